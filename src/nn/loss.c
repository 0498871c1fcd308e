/*
 * loss.c - softmax cross-entropy and knowledge distillation (Hinton et al. 2015) against teacher logits.
 * Both return the batch-mean loss and WRITE dL/dz. Softmax is max-shifted and summed in double.
 */
#include "../internal.h"
#include <math.h>

/* p = softmax(z / T) for one row of k logits; returns log(sum exp((z - max)/T)). */
static double softmax_row(const float *z, int k, double T, double *p) {
    double mx = z[0];
    for (int j = 1; j < k; j++) if (z[j] > mx) mx = z[j];
    double s = 0.0;
    for (int j = 0; j < k; j++) { p[j] = exp((z[j] - mx) / T); s += p[j]; }
    for (int j = 0; j < k; j++) p[j] /= s;
    return log(s) + mx / T;
}

static fx_status check(fx_ctx *ctx, const char *fn, int n, int k, const float *z, const int32_t *labels,
                       const float *dz) {
    FX_CHECK_POS(ctx, fn, n);
    FX_CHECK_POS(ctx, fn, k);
    if (k > 4096) return fx_fail(ctx, FX_ESHAPE, "%s: at most 4096 classes (got %d)", fn, k);
    FX_CHECK_PTR(ctx, fn, z);
    FX_CHECK_PTR(ctx, fn, labels);
    FX_CHECK_PTR(ctx, fn, dz);
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return fx_fail(ctx, FX_EINVAL, "%s: label %d of sample %d is outside 0..%d", fn, labels[i], i, k - 1);
        for (int j = 0; j < k; j++)
            if (!isfinite(z[(int64_t)i * k + j]))
                return fx_fail(ctx, FX_ENUMERIC, "%s: logit %d of sample %d is %g", fn, j, i, (double)z[(int64_t)i * k + j]);
    }
    return FX_OK;
}

fx_status fx_xent_forward_backward(fx_ctx *ctx, int n, int k, const float *z, const int32_t *labels,
                                   float *loss, float *dz) {
    fx_status st = check(ctx, "fx_xent_forward_backward", n, k, z, labels, dz);
    if (st) return st;
    double p[4096], total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (int64_t)i * k;
        double lse = softmax_row(zi, k, 1.0, p);
        total += lse - zi[labels[i]];
        for (int j = 0; j < k; j++) dz[(int64_t)i * k + j] = (float)((p[j] - (j == labels[i])) / n);
    }
    if (loss) *loss = (float)(total / n);
    return FX_OK;
}

fx_status fx_distill_forward_backward(fx_ctx *ctx, int n, int k, const float *z, const float *t,
                                      const int32_t *labels, float T, float a, float *loss, float *dz) {
    static const char fn[] = "fx_distill_forward_backward";
    fx_status st = check(ctx, fn, n, k, z, labels, dz);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, t);
    if (!(T > 0.0f) || !isfinite(T)) return fx_fail(ctx, FX_EINVAL, "%s: temperature must be > 0 (got %g)", fn, (double)T);
    if (!(a >= 0.0f && a <= 1.0f)) return fx_fail(ctx, FX_EINVAL, "%s: weight a must be in [0,1] (got %g)", fn, (double)a);
    double p[4096], ps[4096], pt[4096], total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (int64_t)i * k, *ti = t + (int64_t)i * k;
        for (int j = 0; j < k; j++)
            if (!isfinite(ti[j])) return fx_fail(ctx, FX_ENUMERIC, "%s: teacher logit %d of sample %d is %g", fn, j, i, (double)ti[j]);
        double lse = softmax_row(zi, k, 1.0, p);
        double lse_s = softmax_row(zi, k, T, ps), lse_t = softmax_row(ti, k, T, pt);
        double kl = 0.0;
        for (int j = 0; j < k; j++)
            if (pt[j] > 0.0) kl += pt[j] * ((ti[j] / T - lse_t) - (zi[j] / T - lse_s));
        total += (1.0 - a) * (lse - zi[labels[i]]) + (double)a * T * T * kl;
        for (int j = 0; j < k; j++)
            dz[(int64_t)i * k + j] = (float)(((1.0 - a) * (p[j] - (j == labels[i])) + (double)a * T * (ps[j] - pt[j])) / n);
    }
    if (loss) *loss = (float)(total / n);
    return FX_OK;
}
