/*
 * conv2d.c - 2-D convolution (NCHW, OIHW weights, zero padding, square kernel), forward and backward,
 * as im2col + GEMM per image. The workspace holds one image's column matrix and the GEMM packing scratch.
 */
#include "../internal.h"
#include "../kernels/gemm.h"
#include "../kernels/bcq_lut.h"
#include "../kernels/bcq_conv.h"
#include <string.h>

fx_status fx_conv_shape_init(fx_ctx *ctx, fx_conv_shape *s, int n, int c_in, int h, int w, int c_out, int k,
                             int stride, int pad) {
    static const char fn[] = "fx_conv_shape_init";
    FX_CHECK_PTR(ctx, fn, s);
    FX_CHECK_POS(ctx, fn, n);
    FX_CHECK_POS(ctx, fn, c_in);
    FX_CHECK_POS(ctx, fn, h);
    FX_CHECK_POS(ctx, fn, w);
    FX_CHECK_POS(ctx, fn, c_out);
    FX_CHECK_POS(ctx, fn, k);
    FX_CHECK_POS(ctx, fn, stride);
    if (pad < 0 || pad >= k)
        return fx_fail(ctx, FX_ESHAPE, "%s: pad must be in 0..k-1=%d (got %d)", fn, k - 1, pad);
    if (h + 2 * pad < k || w + 2 * pad < k)
        return fx_fail(ctx, FX_ESHAPE, "%s: a %dx%d kernel does not fit a %dx%d input with pad %d", fn, k, k, h, w, pad);
    s->n = n; s->c_in = c_in; s->h = h; s->w = w; s->c_out = c_out; s->k = k; s->stride = stride; s->pad = pad;
    s->h_out = (h + 2 * pad - k) / stride + 1;
    s->w_out = (w + 2 * pad - k) / stride + 1;
    return FX_OK;
}

static size_t round16(size_t v) { return (v + 15) & ~(size_t)15; }

static int is_pointwise(const fx_conv_shape *s) { return s->k == 1 && s->stride == 1 && s->pad == 0; }

static fx_bcq_conv_geom bcq_geom(const fx_conv_shape *s) {
    fx_bcq_conv_geom g = {s->c_in, s->h, s->w, s->c_out, s->k, s->stride, s->pad, s->h_out, s->w_out};
    return g;
}

/* The input gradient of a stride-1 conv is a stride-1 conv of dy (padded by k - 1 - pad) with the flipped,
 * transposed weights: its geometry for the direct table kernel. 0 when that does not apply. */
static int dx_geom(const fx_conv_shape *s, fx_bcq_conv_geom *t) {
    if (s->stride != 1 || s->pad > s->k - 1) return 0;
    fx_bcq_conv_geom g = {s->c_out, s->h_out, s->w_out, s->c_in, s->k, 1, s->k - 1 - s->pad, s->h, s->w};
    *t = g;
    return fx_bcq_conv_supported(t);
}

/* Workspace of fx_conv2d_backward_bcq_dx: the tables, then dy scaled by alpha, then c_in ones. */
static size_t dx_ws_floats(const fx_conv_shape *s, const fx_bcq_conv_geom *t) {
    return fx_bcq_conv_ws_floats(t, 1) + round16((size_t)s->c_out * s->h_out * s->w_out) + round16((size_t)s->c_in);
}

size_t fx_conv2d_ws_floats(const fx_conv_shape *s) {
    size_t col = is_pointwise(s) ? 0 : (size_t)s->c_in * s->k * s->k * s->h_out * s->w_out;
    size_t ws = round16(col) + FX_GEMM_WS_FLOATS;
    fx_bcq_conv_geom g = bcq_geom(s), t;
    if (fx_bcq_conv_supported(&g)) { /* the direct table kernel of fx_conv2d_forward_bcq */
        size_t d = fx_bcq_conv_ws_floats(&g, FX_MAX_Q);
        if (d > ws) ws = d;
    }
    if (dx_geom(s, &t)) { /* and of fx_conv2d_backward_bcq_dx */
        size_t d = dx_ws_floats(s, &t);
        if (d > ws) ws = d;
    }
    return ws;
}

/* The output columns ow whose input column ow*stride - pad + kw lies inside 0..w-1: [lo, hi). */
static void valid_cols(const fx_conv_shape *s, int kw, int *lo, int *hi) {
    int off = kw - s->pad; /* iw = ow*stride + off */
    int l = off >= 0 ? 0 : (-off + s->stride - 1) / s->stride;
    int h = (s->w - 1 - off) >= 0 ? (s->w - 1 - off) / s->stride + 1 : 0;
    if (h > s->w_out) h = s->w_out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col (c_in*k*k, h_out*w_out) from one image x (c_in, h, w). Interior runs are copied without bounds
 * checks (memcpy for stride 1); only the padding margins are zeroed. */
static void im2col(const fx_conv_shape *s, const float *x, float *col) {
    int hw_out = s->h_out * s->w_out;
    for (int kw = 0; kw < s->k; kw++) {
        int lo, hi;
        valid_cols(s, kw, &lo, &hi);
        int off = kw - s->pad;
        for (int c = 0; c < s->c_in; c++)
            for (int kh = 0; kh < s->k; kh++) {
                float *dst = col + ((size_t)(c * s->k + kh) * s->k + kw) * hw_out;
                const float *src = x + (size_t)c * s->h * s->w;
                for (int oh = 0; oh < s->h_out; oh++) {
                    int ih = oh * s->stride - s->pad + kh;
                    float *d = dst + (size_t)oh * s->w_out;
                    if (ih < 0 || ih >= s->h) { memset(d, 0, sizeof(float) * (size_t)s->w_out); continue; }
                    const float *row = src + (size_t)ih * s->w + off;
                    for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                    if (s->stride == 1) memcpy(d + lo, row + lo, sizeof(float) * (size_t)(hi - lo));
                    else for (int ow = lo; ow < hi; ow++) d[ow] = row[ow * s->stride];
                    for (int ow = hi; ow < s->w_out; ow++) d[ow] = 0.0f;
                }
            }
    }
}

/* dx (c_in, h, w) += col2im(dcol). */
static void col2im_add(const fx_conv_shape *s, const float *col, float *dx) {
    int hw_out = s->h_out * s->w_out;
    for (int kw = 0; kw < s->k; kw++) {
        int lo, hi;
        valid_cols(s, kw, &lo, &hi);
        int off = kw - s->pad;
        for (int c = 0; c < s->c_in; c++)
            for (int kh = 0; kh < s->k; kh++) {
                const float *src = col + ((size_t)(c * s->k + kh) * s->k + kw) * hw_out;
                float *dst = dx + (size_t)c * s->h * s->w;
                for (int oh = 0; oh < s->h_out; oh++) {
                    int ih = oh * s->stride - s->pad + kh;
                    if (ih < 0 || ih >= s->h) continue;
                    float *row = dst + (size_t)ih * s->w + off;
                    const float *d = src + (size_t)oh * s->w_out;
                    if (s->stride == 1) for (int ow = lo; ow < hi; ow++) row[ow] += d[ow];
                    else for (int ow = lo; ow < hi; ow++) row[ow * s->stride] += d[ow];
                }
            }
    }
}

/* The GEMM input of image i: its im2col columns in `col`, or the image itself for a 1x1/stride-1 conv. */
static const float *image_columns(const fx_conv_shape *s, const float *x, int i, float *col) {
    const float *xi = x + (size_t)i * s->c_in * s->h * s->w;
    if (is_pointwise(s)) return xi;
    im2col(s, xi, col);
    return col;
}

fx_status fx_conv2d_forward(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, const float *w,
                            const float *b, float *ws) {
    static const char fn[] = "fx_conv2d_forward";
    FX_CHECK_PTR(ctx, fn, s);
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, w);
    FX_CHECK_PTR(ctx, fn, ws);
    int kk = s->c_in * s->k * s->k, hw_out = s->h_out * s->w_out;
    float *col = ws, *gws = ws + (fx_conv2d_ws_floats(s) - FX_GEMM_WS_FLOATS);
    for (int i = 0; i < s->n; i++) {
        float *yi = y + (size_t)i * s->c_out * hw_out;
        const float *B = image_columns(s, x, i, col);
        fx_sgemm(0, 0, s->c_out, hw_out, kk, w, kk, B, hw_out, yi, hw_out, 0, gws);
        if (b)
            for (int o = 0; o < s->c_out; o++)
                for (int p = 0; p < hw_out; p++) yi[(size_t)o * hw_out + p] += b[o];
    }
    return FX_OK;
}

fx_status fx_conv2d_backward(fx_ctx *ctx, const fx_conv_shape *s, float *dx, float *dw, float *db,
                             const float *dy, const float *x, const float *w, float *ws) {
    static const char fn[] = "fx_conv2d_backward";
    FX_CHECK_PTR(ctx, fn, s);
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, ws);
    if (dw) FX_CHECK_PTR(ctx, fn, x);
    if (dx) FX_CHECK_PTR(ctx, fn, w);
    int kk = s->c_in * s->k * s->k, hw_out = s->h_out * s->w_out;
    int pw = is_pointwise(s);
    float *col = ws, *gws = ws + (fx_conv2d_ws_floats(s) - FX_GEMM_WS_FLOATS);
    for (int i = 0; i < s->n; i++) {
        const float *dyi = dy + (size_t)i * s->c_out * hw_out;
        if (db)
            for (int o = 0; o < s->c_out; o++) {
                float acc = 0.0f;
                for (int p = 0; p < hw_out; p++) acc += dyi[(size_t)o * hw_out + p];
                db[o] += acc;
            }
        if (dw) {
            const float *B = image_columns(s, x, i, col);
            fx_sgemm(0, 1, s->c_out, kk, hw_out, dyi, hw_out, B, hw_out, dw, kk, 1, gws);
        }
        if (dx) {
            float *dxi = dx + (size_t)i * s->c_in * s->h * s->w;
            if (pw) {
                fx_sgemm(1, 0, kk, hw_out, s->c_out, w, kk, dyi, hw_out, dxi, hw_out, 1, gws);
            } else {
                fx_sgemm(1, 0, kk, hw_out, s->c_out, w, kk, dyi, hw_out, col, hw_out, 0, gws);
                col2im_add(s, col, dxi);
            }
        }
    }
    return FX_OK;
}

int fx_conv2d_bcq_fits(const fx_conv_shape *s) {
    fx_bcq_conv_geom g = bcq_geom(s);
    return fx_bcq_conv_supported(&g) || fx_bcq_ws_floats(s->c_in * s->k * s->k) <= FX_GEMM_WS_FLOATS;
}

size_t fx_conv2d_bcq_offsets_count(const fx_conv_shape *s, int q) {
    fx_bcq_conv_geom g = bcq_geom(s);
    return fx_bcq_conv_supported(&g) ? fx_bcq_conv_offsets_count(&g, q) : 0;
}

void fx_conv2d_bcq_offsets(const fx_conv_shape *s, int q, const uint8_t *bits, int32_t *offs) {
    fx_bcq_conv_geom g = bcq_geom(s);
    if (fx_bcq_conv_supported(&g)) fx_bcq_conv_offsets(&g, q, bits, offs);
}

fx_status fx_conv2d_forward_bcq(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, int q,
                                const uint8_t *bits, const float *alpha, const float *b, const float *res, int relu,
                                float *ws) {
    return fx_conv2d_forward_bcq_offs(ctx, s, y, x, q, bits, NULL, alpha, b, res, relu, ws);
}

fx_status fx_conv2d_forward_bcq_offs(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, int q,
                                     const uint8_t *bits, const int32_t *offs, const float *alpha, const float *b,
                                     const float *res, int relu, float *ws) {
    static const char fn[] = "fx_conv2d_forward_bcq";
    FX_CHECK_PTR(ctx, fn, s);
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, bits);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, ws);
    if (q < 1 || q > FX_MAX_Q) return fx_fail(ctx, FX_EINVAL, "%s: q (bit planes) must be in 1..%d (got %d)", fn, FX_MAX_Q, q);
    if (!fx_conv2d_bcq_fits(s)) return fx_fail(ctx, FX_EUNSUPPORTED, "%s: fan-in %d too large for the table workspace", fn, s->c_in * s->k * s->k);
    fx_bcq_conv_geom g = bcq_geom(s);
    if (fx_bcq_conv_supported(&g)) { /* direct: tables per input pixel, no im2col */
        fx_bcq_conv(&g, s->n, q, bits, offs, alpha, b, res, relu, x, y, ws);
        return FX_OK;
    }
    int kk = s->c_in * s->k * s->k, hw_out = s->h_out * s->w_out;
    float *col = ws, *tws = ws + (is_pointwise(s) ? 0 : round16((size_t)kk * hw_out)); /* tables after the columns */
    for (int i = 0; i < s->n; i++) {
        float *yi = y + (size_t)i * s->c_out * hw_out;
        const float *B = image_columns(s, x, i, col);
        fx_bcq_lut_gemm(s->c_out, hw_out, kk, q, bits, alpha, b, res ? 0 : relu, B, hw_out, yi, hw_out, tws);
        if (res) {
            const float *ri = res + (size_t)i * s->c_out * hw_out;
            for (size_t j = 0; j < (size_t)s->c_out * hw_out; j++) {
                float v = yi[j] + ri[j];
                yi[j] = relu && !(v > 0.0f) ? 0.0f : v;
            }
        }
    }
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Input gradient from the +-1 bits (training, q = 1): dx += conv(alpha * dy, flip(B)^T) with the direct kernel.
 * ------------------------------------------------------------------------------------------------------- */

size_t fx_conv2d_bcq_dx_bytes(const fx_conv_shape *s, int q) {
    fx_bcq_conv_geom t;
    if (q != 1 || !dx_geom(s, &t)) return 0;
    return (size_t)s->c_in * (((size_t)s->c_out * s->k * s->k + 3) / 4);
}

size_t fx_conv2d_bcq_dx_offsets_count(const fx_conv_shape *s) {
    fx_bcq_conv_geom t;
    return dx_geom(s, &t) ? fx_bcq_conv_offsets_count(&t, 1) : 0;
}

void fx_conv2d_bcq_dx_prepare(const fx_conv_shape *s, const uint8_t *bits, uint8_t *bits_t, int32_t *offs_t) {
    fx_bcq_conv_geom t;
    if (!dx_geom(s, &t)) return;
    int k = s->k, kk = k * k, G = (s->c_in * kk + 3) / 4, Gt = (s->c_out * kk + 3) / 4;
    memset(bits_t, 0, (size_t)s->c_in * Gt);
    for (int o = 0; o < s->c_out; o++)
        for (int c = 0; c < s->c_in; c++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    int j = (c * k + kh) * k + kw;                           /* B[o][c][kh][kw] */
                    int jt = (o * k + (k - 1 - kh)) * k + (k - 1 - kw);      /* Bt[c][o][k-1-kh][k-1-kw] */
                    if ((bits[(size_t)o * G + (j >> 2)] >> (j & 3)) & 1)
                        bits_t[(size_t)c * Gt + (jt >> 2)] |= (uint8_t)(1u << (jt & 3));
                }
    fx_bcq_conv_offsets(&t, 1, bits_t, offs_t);
}

fx_status fx_conv2d_backward_bcq_dx(fx_ctx *ctx, const fx_conv_shape *s, float *dx, const float *dy, const float *alpha,
                                    const uint8_t *bits_t, const int32_t *offs_t, float *ws) {
    static const char fn[] = "fx_conv2d_backward_bcq_dx";
    FX_CHECK_PTR(ctx, fn, s);
    FX_CHECK_PTR(ctx, fn, dx);
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, bits_t);
    FX_CHECK_PTR(ctx, fn, ws);
    fx_bcq_conv_geom t;
    if (!dx_geom(s, &t)) return fx_fail(ctx, FX_EUNSUPPORTED, "%s: needs stride 1, pad < k and c_out >= 4", fn);
    size_t hw = (size_t)s->h_out * s->w_out;
    float *scaled = ws + fx_bcq_conv_ws_floats(&t, 1), *ones = scaled + round16((size_t)s->c_out * hw);
    for (int c = 0; c < s->c_in; c++) ones[c] = 1.0f;
    for (int i = 0; i < s->n; i++) {
        const float *dyi = dy + (size_t)i * s->c_out * hw;
        for (int o = 0; o < s->c_out; o++)
            for (size_t p = 0; p < hw; p++) scaled[(size_t)o * hw + p] = alpha[o] * dyi[(size_t)o * hw + p];
        float *dxi = dx + (size_t)i * s->c_in * s->h * s->w;
        fx_bcq_conv(&t, 1, 1, bits_t, offs_t, ones, NULL, dxi, 0, scaled, dxi, ws); /* dx += (residual = dx) */
    }
    return FX_OK;
}
