/*
 * internal.h - what the core's files share and the public API does not show: the context struct, the
 * error helpers and the accounted allocator. Not installed; never included by users.
 */
#ifndef FX_INTERNAL_H
#define FX_INTERNAL_H

#include "flexor.h"
#include <stdarg.h>

#define FX_MSG_LEN 512
#define FX_MAX_NODES 400  /* ResNet-110 has 383 */
#define FX_MAX_PARAMS 1024
#define FX_ALIGN 64

struct fx_ctx {
    fx_status last;
    char msg[FX_MSG_LEN];
    size_t mem_used, mem_limit, live_blocks;
    int threads; /* default thread count of models built with this context (0 = 1) */
};

/* Records status s with a printf-style message in ctx (ctx may be NULL) and returns s. */
fx_status fx_fail(fx_ctx *ctx, fx_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* 64-byte aligned, zeroed, accounted allocation; NULL (with FX_ENOMEM in ctx) on failure or past the limit.
 * `what` names the buffer in the error message. */
void *fx_alloc(fx_ctx *ctx, size_t bytes, const char *what);
void fx_free(fx_ctx *ctx, void *p);

/* Argument checks that fail the calling function with a message naming the function and the argument. */
#define FX_CHECK_PTR(ctx, fn, p) \
    do { if (!(p)) return fx_fail((ctx), FX_EINVAL, "%s: %s is NULL", (fn), #p); } while (0)
#define FX_CHECK_POS(ctx, fn, v) \
    do { if ((v) <= 0) return fx_fail((ctx), FX_ESHAPE, "%s: %s must be > 0 (got %lld)", (fn), #v, (long long)(v)); } while (0)

/* Optimiser state of parameter i (NULL when not training) and the step counter, for model files. */
void fx__param_state(const fx_model *m, int i, float **s1, float **s2);
/* Dense FleXOR layers in training keep their weights transposed, W^T (fan_in, c_out), which is exactly the
 * slice order: the decode writes it in order and the XOR backward reads dW^T in order (no scatter/gather).
 * Dense geometries (k = 0) only. The dense layer itself then runs with W^T. */
fx_status fx__flexor_weight_forward_t(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, const float *alpha,
                                     float *Wt);
fx_status fx__flexor_weight_backward_t(fx_ctx *ctx, const fx_flexor_geom *g, fx_bwd_mode mode, float S,
                                      const float *x, const float *alpha, const float *dWt, float *dx, float *dalpha);
fx_status fx__dense_forward_t(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *wt,
                              const float *b, float *ws);
fx_status fx__dense_backward_t(fx_ctx *ctx, int n, int in, int out, float *dx, float *dwt, float *db,
                               const float *dy, const float *x, const float *wt, float *ws);

/* The table offsets of the direct LUT conv (src/kernels/bcq_conv.c), kept by the model per layer: how many
 * (0 when the direct kernel does not apply), their computation, and the forward that takes them (offs may be
 * NULL: computed into ws per call). */
size_t fx_conv2d_bcq_offsets_count(const fx_conv_shape *s, int q);
void fx_conv2d_bcq_offsets(const fx_conv_shape *s, int q, const uint8_t *bits, int32_t *offs);
fx_status fx_conv2d_forward_bcq_offs(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, int q,
                                     const uint8_t *bits, const int32_t *offs, const float *alpha, const float *b,
                                     const float *res, int relu, float *ws);
/* Training with q = 1 and stride 1: the input gradient from the bits, dx += conv(alpha * dy, flip(B)^T), with
 * the transposed bits and their offsets kept by the model (sizes 0 when it does not apply). */
size_t fx_conv2d_bcq_dx_bytes(const fx_conv_shape *s, int q);
size_t fx_conv2d_bcq_dx_offsets_count(const fx_conv_shape *s);
void fx_conv2d_bcq_dx_prepare(const fx_conv_shape *s, const uint8_t *bits, uint8_t *bits_t, int32_t *offs_t);
fx_status fx_conv2d_backward_bcq_dx(fx_ctx *ctx, const fx_conv_shape *s, float *dx, const float *dy, const float *alpha,
                                    const uint8_t *bits_t, const int32_t *offs_t, float *ws);
void fx__model_set_steps(fx_model *m, int64_t t);

static inline int fx_parity32(uint32_t v) { return __builtin_parity(v); }
static inline int fx_popcount32(uint32_t v) { return __builtin_popcount(v); }

#endif
