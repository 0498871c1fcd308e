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

/* W is (out, in) (PyTorch layout), or, with wt, W^T (in, out). */
static fx_status forward(fx_ctx *ctx, const char *fn, int n, int in, int out, float *y, const float *x, const float *w,
                         const float *b, float *ws, int wt) {
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, w);
    FX_CHECK_PTR(ctx, fn, ws);
    fx_sgemm(0, !wt, n, out, in, x, in, w, wt ? out : in, y, out, 0, ws);
    if (b)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
    return FX_OK;
}

/* dx += dy W; dW += dy^T x (or, with wt, dW^T += x^T dy); db += column sums of dy. */
static fx_status backward(fx_ctx *ctx, const char *fn, int n, int in, int out, float *dx, float *dw, float *db,
                          const float *dy, const float *x, const float *w, float *ws, int wt) {
    fx_status st = check(ctx, fn, n, in, out);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, ws);
    if (dx) {
        FX_CHECK_PTR(ctx, fn, w);
        fx_sgemm(0, wt, n, in, out, dy, out, w, wt ? out : in, dx, in, 1, ws);
    }
    if (dw) {
        FX_CHECK_PTR(ctx, fn, x);
        if (wt) fx_sgemm(1, 0, in, out, n, x, in, dy, out, dw, out, 1, ws);
        else fx_sgemm(1, 0, out, in, n, dy, out, x, in, dw, in, 1, ws);
    }
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
    return FX_OK;
}

fx_status fx_dense_forward(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *w,
                           const float *b, float *ws) {
    return forward(ctx, "fx_dense_forward", n, in, out, y, x, w, b, ws, 0);
}

fx_status fx_dense_backward(fx_ctx *ctx, int n, int in, int out, float *dx, float *dw, float *db,
                            const float *dy, const float *x, const float *w, float *ws) {
    return backward(ctx, "fx_dense_backward", n, in, out, dx, dw, db, dy, x, w, ws, 0);
}

/* The same with W^T (in, out) row-major (see internal.h). */
fx_status fx__dense_forward_t(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *wt,
                              const float *b, float *ws) {
    return forward(ctx, "fx__dense_forward_t", n, in, out, y, x, wt, b, ws, 1);
}

fx_status fx__dense_backward_t(fx_ctx *ctx, int n, int in, int out, float *dx, float *dwt, float *db,
                               const float *dy, const float *x, const float *wt, float *ws) {
    return backward(ctx, "fx__dense_backward_t", n, in, out, dx, dwt, db, dy, x, wt, ws, 1);
}
