/*
 * test_lut.c - the lookup-table (BiQGEMM-style) inference kernel against the float path: a FleXOR conv
 * computed from packed +-1 bits must equal the conv with the decoded float weights, on awkward shapes
 * (fan-in not a multiple of 4, pixel counts not a multiple of 16, q = 1..3, stride 2, 1x1, bias), and a
 * whole model evaluated both ways must agree.
 */
#include "../../src/flexor.h"
#include "fxtest.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fx_ctx *ctx;

static float *randv(fx_rng *r, long n, float s) {
    float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) v[i] = s * fx_rng_normal(r);
    return v;
}

static void one_case(int n, int c_in, int h, int w, int c_out, int k, int stride, int pad, int q, int n_in, int bias) {
    fx_rng r;
    fx_rng_seed(&r, (uint64_t)(c_in * 131 + c_out * 7 + k + q));
    fx_flexor_cfg cfg = {20, n_in, 2, q, 9};
    fx_flexor_geom g;
    fx_conv_shape s;
    if (fx_flexor_geom_init(ctx, &g, &cfg, c_out, c_in, k) || fx_conv_shape_init(ctx, &s, n, c_in, h, w, c_out, k, stride, pad)) {
        FXT_CHECK(0, "setup: %s", fx_ctx_message(ctx));
        return;
    }
    float *x = randv(&r, (long)n * c_in * h * w, 1.0f), *lat = randv(&r, g.n_lat * q, 0.1f);
    float *alpha = randv(&r, (long)q * c_out, 0.3f), *b = bias ? randv(&r, c_out, 0.5f) : NULL;
    long ny = (long)n * c_out * s.h_out * s.w_out;
    float *W = malloc(sizeof(float) * (size_t)g.n), *y1 = malloc(sizeof(float) * (size_t)ny), *y2 = malloc(sizeof(float) * (size_t)ny);
    int G = (g.fan_in + 3) / 4;
    uint8_t *bits = malloc((size_t)q * c_out * G);
    size_t wsn = fx_conv2d_ws_floats(&s);
    float *ws = aligned_alloc(64, (wsn * sizeof(float) + 63) & ~(size_t)63);
    fx_flexor_weight_forward(ctx, &g, lat, alpha, W, NULL);
    for (int p = 0; p < q; p++) fx_flexor_plane_bits(ctx, &g, lat, p, bits + (size_t)p * c_out * G);
    fx_conv2d_forward(ctx, &s, y1, x, W, b, ws);
    FXT_CHECK(fx_conv2d_bcq_fits(&s), "shape should fit the LUT kernel");
    FXT_CHECK(fx_conv2d_forward_bcq(ctx, &s, y2, x, q, bits, alpha, b, NULL, 0, ws) == FX_OK, "bcq: %s", fx_ctx_message(ctx));
    char what[96];
    snprintf(what, sizeof what, "lut %dx%dx%d->%d k%d s%d q%d", c_in, h, w, c_out, k, stride, q);
    fxt_close(what, y2, y1, ny, 1e-4, 1e-4);
    /* the fused ReLU epilogue */
    fx_conv2d_forward_bcq(ctx, &s, y2, x, q, bits, alpha, b, NULL, 1, ws);
    for (long i = 0; i < ny; i++) y1[i] = y1[i] > 0 ? y1[i] : 0;
    fxt_close(what, y2, y1, ny, 1e-4, 1e-4);
    /* a residual added before the ReLU (the fused ADD of a ResNet block), with and without the ReLU */
    float *res = randv(&r, ny, 1.0f), *y3 = malloc(sizeof(float) * (size_t)ny);
    fx_conv2d_forward(ctx, &s, y1, x, W, b, ws);
    for (int relu = 0; relu < 2; relu++) {
        fx_conv2d_forward_bcq(ctx, &s, y2, x, q, bits, alpha, b, res, relu, ws);
        for (long i = 0; i < ny; i++) {
            float v = y1[i] + res[i];
            y3[i] = relu && v < 0 ? 0 : v;
        }
        fxt_close(what, y2, y3, ny, 1e-4, 1e-4);
    }
    free(res); free(y3);
    free(x); free(lat); free(alpha); free(b); free(W); free(y1); free(y2); free(bits); free(ws);
}

static void test_kernel(void) {
    one_case(2, 3, 7, 5, 4, 3, 1, 1, 1, 8, 1);    /* fan-in 27: a partial last group; 35 pixels: partial block */
    one_case(1, 16, 32, 32, 16, 3, 1, 1, 1, 16, 0); /* ResNet-20 stage 1 */
    one_case(1, 16, 32, 32, 32, 3, 2, 1, 1, 12, 0); /* stage transition, stride 2 */
    one_case(2, 64, 8, 8, 64, 3, 1, 1, 1, 8, 0);    /* stage 3 */
    one_case(1, 5, 6, 6, 3, 1, 1, 0, 2, 4, 1);     /* 1x1, q = 2 */
    one_case(3, 2, 9, 9, 5, 5, 2, 2, 3, 10, 1);    /* 5x5, q = 3 */
    /* the direct kernel (c_in >= 4): partial channel groups, every chunk tail (1..4 vectors), strides 1-3 */
    one_case(2, 5, 7, 13, 6, 3, 1, 1, 1, 16, 1);   /* 13 wide: 4 vectors, 3 valid lanes in the last */
    one_case(1, 7, 11, 22, 3, 3, 1, 1, 2, 12, 1);  /* 22 wide: a 16-pixel chunk and a 2-vector tail */
    one_case(2, 4, 9, 9, 4, 3, 2, 1, 1, 8, 0);     /* stride 2, odd size: 5x5 output */
    one_case(1, 32, 14, 14, 8, 5, 1, 2, 1, 16, 1); /* LeNet-5 conv2 shape (fewer outputs) */
    one_case(2, 8, 6, 10, 5, 1, 2, 0, 1, 20, 0);   /* 1x1 stride 2 */
    one_case(1, 6, 10, 10, 4, 3, 3, 0, 4, 12, 1);  /* stride 3, no padding, q = 4 */
    one_case(1, 9, 3, 3, 5, 3, 1, 1, 1, 8, 0);     /* 3x3 image: 1 vector per row */
}

/* ResNet-20 with FleXOR stages evaluated with and without the LUT kernel. */
static void test_model(void) {
    fx_flexor_cfg st[3] = {{20, 16, 2, 1, 1}, {20, 12, 0, 2, 2}, {20, 8, 2, 1, 3}};
    fx_model *m = NULL;
    if (fx_model_resnet_cifar(ctx, &m, 20, st, 3, 0) != FX_OK) { FXT_CHECK(0, "resnet: %s", fx_ctx_message(ctx)); return; }
    fx_model_init_params(ctx, m, 4, 0.2f, 0.01f);
    fx_rng r;
    fx_rng_seed(&r, 8);
    /* non-trivial BN statistics and affine parameters, so the folding is really exercised */
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info p;
        fx_model_param_info(ctx, m, i, &p);
        for (int64_t j = 0; j < p.len; j++) {
            if (p.kind == FX_PARAM_GAMMA) p.data[j] = 0.5f + fx_rng_uniform(&r);
            if (p.kind == FX_PARAM_BETA || p.kind == FX_PARAM_RMEAN) p.data[j] = 0.3f * fx_rng_normal(&r);
            if (p.kind == FX_PARAM_RVAR) p.data[j] = 0.2f + fx_rng_uniform(&r);
        }
    }
    fx_model_touch(m);
    float *x = randv(&r, 3L * 3 * 32 * 32, 1.0f), a[30];
    const float *z;
    fx_model_set_lut(ctx, m, 0);
    fx_model_forward(ctx, m, x, 3, 0, &z);
    memcpy(a, z, sizeof a);
    fx_model_set_lut(ctx, m, 1);
    FXT_CHECK(fx_model_forward(ctx, m, x, 3, 0, &z) == FX_OK, "lut forward: %s", fx_ctx_message(ctx));
    fxt_close("lut resnet20 logits", z, a, 30, 1e-4, 1e-3);
    free(x);
    fx_model_free(ctx, m);
}

/* Training with the table kernels (forward from the bits, dx from the transposed bits) against the float
 * path: the same loss and the same gradient of every parameter, for ResNet-20 (stride-1 and stride-2 FleXOR
 * convs, q = 1 and q = 2 stages, multi-consumer activations) and LeNet-5 (5x5, c_in = 1 first layer). */
static void train_case(const char *name, fx_model *m, int n, int c, int h, int w, int ncls) {
    fx_model_init_params(ctx, m, 5, 0.2f, 0.05f);
    fx_rng r;
    fx_rng_seed(&r, 11);
    float *x = randv(&r, (long)n * c * h * w, 1.0f);
    int32_t labels[8];
    for (int i = 0; i < n; i++) labels[i] = (int32_t)(fx_rng_next(&r) % (uint64_t)ncls);
    int np = fx_model_param_count(m);
    long total = 0;
    for (int i = 0; i < np; i++) {
        fx_param_info p;
        fx_model_param_info(ctx, m, i, &p);
        if (p.grad) total += (long)p.len;
    }
    float *g0 = malloc(sizeof(float) * (size_t)total), loss[2];
    for (int lut = 0; lut < 2; lut++) {
        const float *z;
        fx_model_set_lut(ctx, m, lut);
        fx_model_touch(m);
        if (fx_model_forward(ctx, m, x, n, 1, &z) || fx_model_backward(ctx, m, labels, NULL, 1, 0, &loss[lut])) {
            FXT_CHECK(0, "%s: %s", name, fx_ctx_message(ctx));
            break;
        }
        long off = 0;
        for (int i = 0; i < np; i++) {
            fx_param_info p;
            fx_model_param_info(ctx, m, i, &p);
            if (!p.grad) continue;
            if (lut == 0) memcpy(g0 + off, p.grad, sizeof(float) * (size_t)p.len);
            else {
                char what[96];
                snprintf(what, sizeof what, "%s grad %s", name, p.name);
                fxt_close(what, p.grad, g0 + off, p.len, 2e-4, 2e-3);
            }
            off += (long)p.len;
        }
    }
    FXT_CHECK(fabsf(loss[0] - loss[1]) <= 1e-4f * fabsf(loss[0]) + 1e-5f, "%s: loss %g (lut) vs %g (float)", name,
              (double)loss[1], (double)loss[0]);
    free(x); free(g0);
    fx_model_free(ctx, m);
}

static void test_train(void) {
    fx_flexor_cfg st[3] = {{20, 16, 2, 1, 1}, {20, 12, 0, 2, 2}, {20, 8, 2, 1, 3}};
    fx_model *m = NULL;
    if (fx_model_resnet_cifar(ctx, &m, 20, st, 2, 1) == FX_OK) train_case("resnet20", m, 2, 3, 32, 32, 10);
    else FXT_CHECK(0, "resnet: %s", fx_ctx_message(ctx));
    fx_flexor_cfg l = {20, 16, 2, 1, 4};
    const fx_flexor_cfg *lc[4] = {&l, &l, &l, &l};
    if (fx_model_lenet5(ctx, &m, lc, 3, 1) == FX_OK) train_case("lenet5", m, 3, 1, 28, 28, 10);
    else FXT_CHECK(0, "lenet5: %s", fx_ctx_message(ctx));
}

void test_lut(void) {
    fx_ctx_new(&ctx);
    fxt_run("LUT kernel: FleXOR conv from packed bits = float conv", test_kernel);
    fxt_run("LUT kernel: ResNet-20 logits with and without it", test_model);
    fxt_run("LUT kernels in training: loss and every gradient = float path (ResNet-20, LeNet-5)", test_train);
    fx_ctx_free(ctx);
}
