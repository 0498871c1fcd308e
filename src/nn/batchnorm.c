/*
 * batchnorm.c - batch normalisation per channel over (N, H*W), PyTorch semantics (docs/CORE.md):
 * train mode uses the batch mean and biased variance and updates running stats with the unbiased one;
 * eval mode uses the running stats. Statistics are accumulated in double.
 */
#include "../internal.h"
#include <math.h>

fx_status fx_bn_forward(fx_ctx *ctx, int n, int c, int hw, int train, float *y, const float *x,
                        const float *gamma, const float *beta, float *rm, float *rv, float *cache_mean,
                        float *cache_rstd) {
    static const char fn[] = "fx_bn_forward";
    FX_CHECK_POS(ctx, fn, n);
    FX_CHECK_POS(ctx, fn, c);
    FX_CHECK_POS(ctx, fn, hw);
    FX_CHECK_PTR(ctx, fn, y);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, gamma);
    FX_CHECK_PTR(ctx, fn, beta);
    FX_CHECK_PTR(ctx, fn, rm);
    FX_CHECK_PTR(ctx, fn, rv);
    FX_CHECK_PTR(ctx, fn, cache_mean);
    FX_CHECK_PTR(ctx, fn, cache_rstd);
    int64_t cnt = (int64_t)n * hw;
    if (train && cnt < 2)
        return fx_fail(ctx, FX_ESHAPE, "%s: train mode needs more than one value per channel (n*h*w = %lld)",
                       fn, (long long)cnt);
    for (int ch = 0; ch < c; ch++) {
        float mean, rstd;
        if (train) {
            double s = 0.0, s2 = 0.0;
            for (int i = 0; i < n; i++) {
                const float *p = x + ((int64_t)i * c + ch) * hw;
                for (int k = 0; k < hw; k++) s += p[k];
            }
            double mu = s / (double)cnt;
            for (int i = 0; i < n; i++) {
                const float *p = x + ((int64_t)i * c + ch) * hw;
                for (int k = 0; k < hw; k++) { double d = p[k] - mu; s2 += d * d; }
            }
            double var = s2 / (double)cnt;
            mean = (float)mu;
            rstd = (float)(1.0 / sqrt(var + FX_BN_EPS));
            rm[ch] = (1.0f - FX_BN_MOMENTUM) * rm[ch] + FX_BN_MOMENTUM * mean;
            rv[ch] = (1.0f - FX_BN_MOMENTUM) * rv[ch] + FX_BN_MOMENTUM * (float)(s2 / (double)(cnt - 1));
        } else {
            mean = rm[ch];
            rstd = (float)(1.0 / sqrt((double)rv[ch] + FX_BN_EPS));
        }
        cache_mean[ch] = mean;
        cache_rstd[ch] = rstd;
        float a = gamma[ch] * rstd, bb = beta[ch] - mean * a;
        for (int i = 0; i < n; i++) {
            const float *p = x + ((int64_t)i * c + ch) * hw;
            float *q = y + ((int64_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) q[k] = p[k] * a + bb;
        }
    }
    return FX_OK;
}

fx_status fx_bn_backward(fx_ctx *ctx, int n, int c, int hw, int train, float *dx, float *dgamma, float *dbeta,
                         const float *dy, const float *x, const float *gamma, const float *cache_mean,
                         const float *cache_rstd) {
    static const char fn[] = "fx_bn_backward";
    FX_CHECK_POS(ctx, fn, n);
    FX_CHECK_POS(ctx, fn, c);
    FX_CHECK_POS(ctx, fn, hw);
    FX_CHECK_PTR(ctx, fn, dy);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, gamma);
    FX_CHECK_PTR(ctx, fn, cache_mean);
    FX_CHECK_PTR(ctx, fn, cache_rstd);
    double cnt = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        float mean = cache_mean[ch], rstd = cache_rstd[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++) {
            const float *p = x + ((int64_t)i * c + ch) * hw, *g = dy + ((int64_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) { sdy += g[k]; sdyx += g[k] * (p[k] - mean) * rstd; }
        }
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
        if (!dx) continue;
        float gr = gamma[ch] * rstd;
        float m1 = train ? (float)(sdy / cnt) : 0.0f, m2 = train ? (float)(sdyx / cnt) : 0.0f;
        for (int i = 0; i < n; i++) {
            const float *p = x + ((int64_t)i * c + ch) * hw, *g = dy + ((int64_t)i * c + ch) * hw;
            float *q = dx + ((int64_t)i * c + ch) * hw;
            for (int k = 0; k < hw; k++) q[k] += gr * (g[k] - m1 - (p[k] - mean) * rstd * m2);
        }
    }
    return FX_OK;
}
