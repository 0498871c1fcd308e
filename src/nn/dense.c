/*
 * dense.c - fully connected layer y = x W^T + b (W is [out][in], PyTorch layout), forward and backward.
 */
#include "../internal.h"
#include "../kernels/gemm.h"

size_t fx_dense_ws_floats(void) { return FX_GEMM_WS_FLOATS; }

static fx_status check(fx_ctx *ctx, const char *fn, int n, int in, int out) {
    FX_CHECK_POS(ctx, fn, n);
    FX_CHECK_POS(ctx, fn, in);
    FX_CHECK_POS(ctx, fn, out);
    return FX_OK;
}

fx_status fx_dense_forward(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *w,
                           const float *b, float *ws) {
    static const char fn[] = "fx_dense_forward";
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, w);
    FX_CHECK_PTR(ctx, fn, ws);
    fx_sgemm(0, 1, n, out, in, x, in, w, in, y, out, 0, ws);
    if (b)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
    return FX_OK;
}

fx_status fx_dense_backward(fx_ctx *ctx, int n, int in, int out, float *dx, float *dw, float *db,
                            const float *dy, const float *x, const float *w, float *ws) {
    static const char fn[] = "fx_dense_backward";
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, ws);
    if (dx) {
        FX_CHECK_PTR(ctx, fn, w);
        fx_sgemm(0, 0, n, in, out, dy, out, w, in, dx, in, 1, ws);
    }
    if (dw) {
        FX_CHECK_PTR(ctx, fn, x);
        fx_sgemm(1, 0, out, in, n, dy, out, x, in, dw, in, 1, ws);
    }
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
    return FX_OK;
}

/* The same with W^T (in, out) row-major: y = x W^T + b; dx += dy W; dW^T += x^T dy (see internal.h). */
fx_status fx__dense_forward_t(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *wt,
                              const float *b, float *ws) {
    static const char fn[] = "fx__dense_forward_t";
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, wt);
    FX_CHECK_PTR(ctx, fn, ws);
    fx_sgemm(0, 0, n, out, in, x, in, wt, out, y, out, 0, ws);
    if (b)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
    return FX_OK;
}

fx_status fx__dense_backward_t(fx_ctx *ctx, int n, int in, int out, float *dx, float *dwt, float *db,
                               const float *dy, const float *x, const float *wt, float *ws) {
    static const char fn[] = "fx__dense_backward_t";
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, ws);
    if (dx) {
        FX_CHECK_PTR(ctx, fn, wt);
        fx_sgemm(0, 1, n, in, out, dy, out, wt, out, dx, in, 1, ws);
    }
    if (dwt) {
        FX_CHECK_PTR(ctx, fn, x);
        fx_sgemm(1, 0, in, out, n, x, in, dy, out, dwt, out, 1, ws);
    }
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
    return FX_OK;
}
