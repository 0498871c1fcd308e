/*
 * bcq_conv.h - direct (im2col-free) lookup-table convolution for binary-coded (+-1) weights, see bcq_conv.c.
 */
#ifndef FX_KERNELS_BCQ_CONV_H
#define FX_KERNELS_BCQ_CONV_H
#include <stddef.h>
#include <stdint.h>

typedef struct fx_bcq_conv_geom {
    int c_in, h, w, c_out, k, stride, pad, h_out, w_out;
} fx_bcq_conv_geom;

/* Whether the direct kernel suits the shape (at least 4 input channels: the tables group 4 channels). */
int fx_bcq_conv_supported(const fx_bcq_conv_geom *g);

/* Workspace (floats) for one call with up to q_max bit planes; the caller aligns it to 64 bytes. */
size_t fx_bcq_conv_ws_floats(const fx_bcq_conv_geom *g, int q_max);

/* The per-call table offsets: count (int32) for q planes, and their computation from the packed bits (below).
 * A caller that keeps them (they depend only on the bits and the shape) skips that step on every call. */
size_t fx_bcq_conv_offsets_count(const fx_bcq_conv_geom *g, int q);
void fx_bcq_conv_offsets(const fx_bcq_conv_geom *g, int q, const uint8_t *bits, int32_t *offs);

/* For each of the n images: y = act(sum_pl alpha[pl][o] * conv(x, B_pl)[o] + bias[o] + res[o]).
 * bits: (q, c_out, ceil(fan_in / 4)) nibbles in the fan-in order (c, kh, kw) of fx_flexor_plane_bits, bit t
 * of nibble [pl][o][j] set <=> B_pl[o][4j + t] = +1. bias and res (shaped like y) may be NULL; act is ReLU
 * when relu != 0, applied after the residual. x (n, c_in, h, w), y (n, c_out, h_out, w_out). offs: the
 * offsets of fx_bcq_conv_offsets for these bits, or NULL to compute them into ws. Never allocates. */
void fx_bcq_conv(const fx_bcq_conv_geom *g, int n, int q, const uint8_t *bits, const int32_t *offs, const float *alpha,
                 const float *bias, const float *res, int relu, const float *x, float *y, float *ws);
#endif
