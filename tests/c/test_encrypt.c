/*
 * test_encrypt.c - encryption of given float weights into FleXOR latent bits (fx_flexor_encrypt), the start
 * of training from a full-precision model, and fx_model_init_from. Weights that are exactly representable
 * (decoded from known latent bits) must be recovered exactly by the exhaustive search (n_in <= 10) and almost
 * exactly by the local search (n_in > 10); a second plane must reduce the error of the first.
 */
#include "../../src/flexor.h"
#include "fxtest.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fx_ctx *ctx;

static double sign_agreement(const float *a, const float *b, long n) {
    long ok = 0;
    for (long i = 0; i < n; i++) ok += (a[i] > 0) == (b[i] > 0);
    return (double)ok / (double)n;
}

static double sq_err(const float *a, const float *b, long n) {
    double e = 0;
    for (long i = 0; i < n; i++) e += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return e;
}

/* Weights decoded from random latent bits, encrypted again; returns the sign agreement. */
static double roundtrip(int n_in, int q_make, int q_fit, double *err) {
    fx_flexor_cfg make = {20, n_in, 2, q_make, 5}, fit = {20, n_in, 2, q_fit, 5};
    fx_flexor_geom gm, gf;
    fx_flexor_geom_init(ctx, &gm, &make, 6, 4, 3);
    fx_flexor_geom_init(ctx, &gf, &fit, 6, 4, 3);
    fx_rng r;
    fx_rng_seed(&r, (uint64_t)(n_in * 10 + q_make));
    float *x0 = malloc(sizeof(float) * (size_t)(gm.n_lat * q_make)), a0[24], *W0 = malloc(sizeof(float) * (size_t)gm.n);
    for (long i = 0; i < gm.n_lat * q_make; i++) x0[i] = fx_rng_normal(&r);
    for (int i = 0; i < 6 * q_make; i++) a0[i] = i < 6 ? 0.2f + 0.1f * fx_rng_uniform(&r) : 0.05f + 0.02f * fx_rng_uniform(&r);
    fx_flexor_weight_forward(ctx, &gm, x0, a0, W0, NULL);
    float *x = malloc(sizeof(float) * (size_t)(gf.n_lat * q_fit)), a[24], *W = malloc(sizeof(float) * (size_t)gf.n);
    float *work = malloc(sizeof(float) * (size_t)gf.n);
    FXT_CHECK(fx_flexor_encrypt(ctx, &gf, W0, 0.05f, 9, x, a, work) == FX_OK, "encrypt: %s", fx_ctx_message(ctx));
    for (long i = 0; i < gf.n_lat * q_fit; i++) FXT_CHECK(fabsf(fabsf(x[i]) - 0.05f) < 1e-7f, "latent %ld is %g, not +-mag", i, (double)x[i]);
    fx_flexor_weight_forward(ctx, &gf, x, a, W, NULL);
    double agree = sign_agreement(W, W0, (long)gf.n);
    if (err) *err = sq_err(W, W0, (long)gf.n);
    free(x0); free(W0); free(x); free(W); free(work);
    return agree;
}

static void test_encrypt(void) {
    double e;
    FXT_CHECK(roundtrip(8, 1, 1, &e) == 1.0 && e < 1e-8, "exhaustive search (n_in 8): agreement or error off (err %g)", e);
    double agree16 = roundtrip(16, 1, 1, NULL);
    FXT_CHECK(agree16 >= 0.97, "local search (n_in 16): sign agreement %.4f < 0.97", agree16);
    double e1, e2;
    roundtrip(8, 2, 1, &e1);
    roundtrip(8, 2, 2, &e2);
    FXT_CHECK(e2 < 0.5 * e1, "a second plane should fit the two-plane weights much better (q1 %g, q2 %g)", e1, e2);
}

static void test_init_from(void) {
    fx_model *fp = NULL, *fx = NULL;
    fx_flexor_cfg st[3] = {{20, 8, 2, 1, 1}, {20, 8, 2, 1, 1}, {20, 8, 2, 1, 1}};
    fx_model_resnet_cifar(ctx, &fp, 20, NULL, 1, 0);
    fx_model_resnet_cifar(ctx, &fx, 20, st, 1, 1);
    fx_model_init_params(ctx, fp, 3, 0, 0);
    fx_model_init_params(ctx, fx, 4, 0.2f, 0.001f);
    int copied = 0, enc = 0;
    FXT_CHECK(fx_model_init_from(ctx, fx, fp, 0.05f, 1, &copied, &enc) == FX_OK, "init_from: %s", fx_ctx_message(ctx));
    FXT_CHECK(enc == 18 && copied == 79, "18 convs encrypted and 79 parameters copied, got %d and %d", enc, copied);
    const float *w;
    fx_model_weights(ctx, fx, 4, &w); /* the first FleXOR conv of stage 1 */
    fx_param_info p;
    for (int i = 0; i < fx_model_param_count(fp); i++) {
        fx_model_param_info(ctx, fp, i, &p);
        if (p.node == 4 && p.kind == FX_PARAM_W) break;
    }
    double agree = sign_agreement(w, p.data, (long)p.len);
    FXT_CHECK(agree > 0.6, "encrypted signs should agree with the FP weights beyond chance (%.3f)", agree);
    fx_model *lenet = NULL;
    fx_model_lenet5(ctx, &lenet, NULL, 1, 0);
    FXT_CHECK(fx_model_init_from(ctx, fx, lenet, 0.05f, 1, NULL, NULL) == FX_ESHAPE &&
              strstr(fx_ctx_message(ctx), "not the same architecture"), "a different graph must be refused: %s", fx_ctx_message(ctx));
    fx_model_free(ctx, lenet);
    fx_model_free(ctx, fp);
    fx_model_free(ctx, fx);
}

/* The weight decode and the backward pass stream through the layer in chunks; on a layer large enough for
 * many chunks (c_out = 37, so chunks of 55 rows = 2035 weights cut slices of 20 in the middle), both must
 * equal a naive per-weight reference written straight from docs/CORE.md. */
static void test_chunked(void) {
    int C = 37, Cin = 70, K = 3, KK = 9, n_out = 20, n_in = 12;
    fx_flexor_cfg cfg = {n_out, n_in, 2, 2, 21};
    fx_flexor_geom g;
    fx_flexor_geom_init(ctx, &g, &cfg, C, Cin, K);
    fx_rng r;
    fx_rng_seed(&r, 77);
    long nl = (long)g.n_lat * 2, n = (long)g.n;
    float *x = malloc(sizeof(float) * (size_t)nl), *a = malloc(sizeof(float) * 2 * C), *dW = malloc(sizeof(float) * (size_t)n);
    float *W = calloc((size_t)n, sizeof(float)), *Wref = calloc((size_t)n, sizeof(float));
    float *dx = calloc((size_t)nl, sizeof(float)), *dxref = calloc((size_t)nl, sizeof(float));
    float da[74] = {0}, daref[74] = {0}, S = 10.0f;
    for (long i = 0; i < nl; i++) x[i] = 0.05f * fx_rng_normal(&r);
    for (int i = 0; i < 2 * C; i++) a[i] = 0.1f + 0.2f * fx_rng_uniform(&r);
    for (long i = 0; i < n; i++) dW[i] = fx_rng_normal(&r);
    /* reference: every weight f on its own */
    for (int p = 0; p < 2; p++) {
        const float *xp = x + (long)p * g.n_lat;
        for (long f = 0; f < n; f++) {
            long j = f / n_out, row = f / C;
            int rr = (int)(f % n_out), co = (int)(f % C), ci = (int)(row % Cin), kk = (int)(row / Cin);
            uint32_t e = 0;
            for (int i = 0; i < n_in; i++) e |= (uint32_t)(xp[j * n_in + i] >= 0) << i;
            float b = __builtin_parity(e & g.net[p].mask[rr]) ? 1.0f : -1.0f;
            long idx = (long)co * Cin * KK + ci * KK + kk;
            Wref[idx] += a[p * C + co] * b;
            daref[p * C + co] += b * dW[idx];
            float gr = a[p * C + co] * dW[idx];
            for (int i = 0; i < n_in; i++)
                if ((g.net[p].mask[rr] >> i) & 1u) {
                    float xi = xp[j * n_in + i], t = tanhf(S * xi);
                    dxref[(long)p * g.n_lat + j * n_in + i] += S * (1 - t * t) * (xi >= 0 ? 1.0f : -1.0f) * b * gr;
                }
        }
    }
    fx_flexor_weight_forward(ctx, &g, x, a, W, NULL);
    fx_flexor_weight_backward(ctx, &g, FX_BWD_FLEXOR, S, x, a, dW, dx, da);
    fxt_close("chunked decode W", W, Wref, n, 1e-6, 1e-6);
    fxt_close("chunked backward dalpha", da, daref, 2 * C, 1e-3, 1e-4);
    fxt_close("chunked backward dx", dx, dxref, nl, 1e-4, 1e-4);
    free(x); free(a); free(dW); free(W); free(Wref); free(dx); free(dxref);
}

void test_encrypt_suite(void) {
    fx_ctx_new(&ctx);
    fxt_run("encrypt: float weights -> latent bits (exhaustive, local search, q = 2)", test_encrypt);
    fxt_run("encrypt: fx_model_init_from (FP ResNet-20 -> FleXOR)", test_init_from);
    fxt_run("decode/backward in chunks = naive per-weight reference (large layer, q = 2)", test_chunked);
    fx_ctx_free(ctx);
}
