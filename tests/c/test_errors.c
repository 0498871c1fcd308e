/*
 * test_errors.c - every kind of bad input gives the right status and a message that names the problem:
 * impossible XOR networks, wrong shapes, NULL buffers, NaN, calls out of order, allocation failure and
 * the memory limit, plus a create/free cycle that must leave nothing allocated.
 */
#include "../../src/flexor.h"
#include "fxtest.h"
#include <math.h>
#include <string.h>

static fx_ctx *ctx;

/* The call must fail with `want` and a message containing `needle`. */
#define EXPECT_FAIL(call, want, needle) do { \
    fx_ctx_clear(ctx); \
    fx_status s_ = (call); \
    FXT_CHECK(s_ == (want), "%s returned %s, want %s (message: %s)", #call, fx_status_str(s_), fx_status_str(want), fx_ctx_message(ctx)); \
    FXT_CHECK(strstr(fx_ctx_message(ctx), (needle)) != NULL, "%s: message \"%s\" lacks \"%s\"", #call, fx_ctx_message(ctx), (needle)); \
    FXT_CHECK(fx_ctx_last_status(ctx) == (want), "%s: context status %d", #call, (int)fx_ctx_last_status(ctx)); \
} while (0)

static void test_xornet_errors(void) {
    fx_xornet net;
    EXPECT_FAIL(fx_xornet_init(ctx, &net, 8, 12, 2, 1, 0), FX_EINVAL, "n_in must be in 1..n_out=8 (got n_in=12)");
    EXPECT_FAIL(fx_xornet_init(ctx, &net, 20, 8, 9, 1, 0), FX_EINVAL, "n_tap must be in 0..n_in=8 (got n_tap=9");
    EXPECT_FAIL(fx_xornet_init(ctx, &net, 33, 8, 2, 1, 0), FX_EINVAL, "n_out must be in 1..32 (got 33)");
    EXPECT_FAIL(fx_xornet_init(ctx, &net, 20, 0, 0, 1, 0), FX_EINVAL, "n_in must be in 1..n_out");
    EXPECT_FAIL(fx_xornet_init(ctx, NULL, 20, 8, 2, 1, 0), FX_EINVAL, "fx_xornet_init: net is NULL");
    fx_flexor_geom g;
    fx_flexor_cfg bad_q = {20, 8, 2, 0, 1}, ok = {20, 8, 2, 1, 1}, bad_in = {10, 16, 2, 1, 1};
    EXPECT_FAIL(fx_flexor_geom_init(ctx, &g, &bad_q, 4, 4, 3), FX_EINVAL, "q (bit planes) must be in 1..4 (got 0)");
    EXPECT_FAIL(fx_flexor_geom_init(ctx, &g, &bad_in, 4, 4, 3), FX_EINVAL, "n_in must be in 1..n_out=10 (got n_in=16)");
    EXPECT_FAIL(fx_flexor_geom_init(ctx, &g, &ok, 0, 4, 3), FX_ESHAPE, "c_out must be > 0 (got 0)");
    FXT_CHECK(fx_flexor_geom_init(ctx, &g, &ok, 4, 4, 3) == FX_OK, "valid geometry rejected: %s", fx_ctx_message(ctx));
    float x[8] = {0}, a[4] = {0}, W[144];
    EXPECT_FAIL(fx_flexor_weight_forward(ctx, &g, NULL, a, W, NULL), FX_EINVAL, "fx_flexor_weight_forward: x is NULL");
    EXPECT_FAIL(fx_flexor_weight_backward(ctx, &g, (fx_bwd_mode)7, 10, x, a, W, NULL, NULL), FX_EINVAL, "unknown backward mode 7");
    EXPECT_FAIL(fx_flexor_weight_backward(ctx, &g, FX_BWD_FLEXOR, NAN, x, a, W, NULL, NULL), FX_EINVAL, "S_tanh must be a finite number > 0");
}

static void test_shape_errors(void) {
    fx_conv_shape s;
    EXPECT_FAIL(fx_conv_shape_init(ctx, &s, 1, 3, 2, 2, 4, 5, 1, 0), FX_ESHAPE, "a 5x5 kernel does not fit a 2x2 input");
    EXPECT_FAIL(fx_conv_shape_init(ctx, &s, 1, 3, 8, 8, 4, 3, 0, 1), FX_ESHAPE, "stride must be > 0 (got 0)");
    EXPECT_FAIL(fx_conv_shape_init(ctx, &s, 1, 3, 8, 8, 4, 3, 1, 3), FX_ESHAPE, "pad must be in 0..k-1=2 (got 3)");
    EXPECT_FAIL(fx_maxpool_forward(ctx, 1, 1, 2, 2, 3, 1, NULL, NULL, NULL), FX_ESHAPE, "window 3 does not fit a 2x2 input");
    EXPECT_FAIL(fx_shortcut_forward(ctx, 1, 4, 4, 4, 7, 2, NULL, NULL), FX_ESHAPE, "c_out - c_in must be even");
    float z[6] = {1, 2, 3, 4, 5, 6}, dz[6];
    int32_t lab[2] = {0, 3};
    EXPECT_FAIL(fx_xent_forward_backward(ctx, 2, 3, z, lab, NULL, dz), FX_EINVAL, "label 3 of sample 1 is outside 0..2");
    z[4] = NAN;
    lab[1] = 1;
    EXPECT_FAIL(fx_xent_forward_backward(ctx, 2, 3, z, lab, NULL, dz), FX_ENUMERIC, "logit 1 of sample 1 is nan");
    EXPECT_FAIL(fx_dense_forward(ctx, 2, 3, 4, NULL, z, z, NULL, NULL), FX_EINVAL, "fx_dense_forward: y is NULL");
    float y[4];
    float bnx[2] = {1, 2};
    EXPECT_FAIL(fx_bn_forward(ctx, 1, 1, 1, 1, y, bnx, bnx, bnx, y, y, y, y), FX_ESHAPE, "train mode needs more than one value per channel");
}

static void test_model_errors(void) {
    fx_model *m = NULL;
    int id = 0;
    FXT_CHECK(fx_model_new(ctx, &m, 3, 8, 8) == FX_OK, "fx_model_new: %s", fx_ctx_message(ctx));
    EXPECT_FAIL(fx_model_conv(ctx, m, 5, 4, 3, 1, 1, 0, NULL, &id), FX_EINVAL, "input node 5 does not exist");
    fx_flexor_cfg bad = {20, 24, 2, 1, 1};
    EXPECT_FAIL(fx_model_conv(ctx, m, 0, 4, 3, 1, 1, 0, &bad, &id), FX_EINVAL, "n_in must be in 1..n_out=20 (got n_in=24)");
    int c1, c2;
    fx_model_conv(ctx, m, 0, 4, 3, 1, 1, 0, NULL, &c1);
    fx_model_conv(ctx, m, 0, 4, 3, 2, 1, 0, NULL, &c2);
    EXPECT_FAIL(fx_model_add(ctx, m, c1, c2, &id), FX_ESHAPE, "cannot add 4x8x8 (node 1) and 4x4x4 (node 2)");
    float x[3 * 64 * 3] = {0};
    EXPECT_FAIL(fx_model_forward(ctx, m, x, 1, 0, NULL), FX_ESTATE, "call fx_model_build first");
    int32_t labels[3] = {0};
    FXT_CHECK(fx_model_build(ctx, m, 2, 1) == FX_OK, "build: %s", fx_ctx_message(ctx));
    EXPECT_FAIL(fx_model_conv(ctx, m, 0, 4, 3, 1, 1, 0, NULL, &id), FX_ESTATE, "already built");
    EXPECT_FAIL(fx_model_forward(ctx, m, x, 3, 0, NULL), FX_ESHAPE, "batch of 3 samples; this model was built for 1..2");
    EXPECT_FAIL(fx_model_backward(ctx, m, labels, NULL, 0, 0, NULL), FX_ESTATE, "no train-mode forward");
    x[70] = NAN;
    EXPECT_FAIL(fx_model_forward(ctx, m, x, 2, 1, NULL), FX_ENUMERIC, "input value 70 (sample 0) is nan");
    fx_optim_cfg opt = {FX_OPT_SGD, 0.9f, 0, 0, 0, 0, 0};
    EXPECT_FAIL(fx_model_step(ctx, m, &opt, INFINITY), FX_EINVAL, "learning rate must be finite");
    EXPECT_FAIL(fx_model_set_flexor(ctx, m, FX_BWD_FLEXOR, -1), FX_EINVAL, "S_tanh must be a finite number > 0 (got -1)");
    fx_model_free(ctx, m);
    FXT_CHECK(fx_ctx_live_blocks(ctx) == 0 && fx_ctx_mem_used(ctx) == 0, "leak: %zu blocks, %zu bytes",
              fx_ctx_live_blocks(ctx), fx_ctx_mem_used(ctx));
}

static void test_memory_errors(void) {
    fx_model *m = NULL;
    int id;
    fx_ctx_set_mem_limit(ctx, 1 << 20);
    FXT_CHECK(fx_model_new(ctx, &m, 3, 32, 32) == FX_OK, "fx_model_new: %s", fx_ctx_message(ctx));
    fx_model_conv(ctx, m, 0, 64, 3, 1, 1, 0, NULL, &id);
    EXPECT_FAIL(fx_model_build(ctx, m, 64, 1), FX_ENOMEM, "for the model arena: the memory limit of 1048576 bytes would be passed");
    fx_model_free(ctx, m);
    fx_ctx_set_mem_limit(ctx, 0);
    m = NULL;
    fx_model_new(ctx, &m, 3, 32, 32);
    fx_model_conv(ctx, m, 0, 64, 3, 1, 1, 0, NULL, &id);
    /* a request no machine can satisfy: the system allocator fails and the error names the buffer */
    fx_status s = fx_model_build(ctx, m, 1 << 30, 1);
    FXT_CHECK(s == FX_ENOMEM && strstr(fx_ctx_message(ctx), "the model arena"), "huge build: %s %s", fx_status_str(s), fx_ctx_message(ctx));
    fx_model_free(ctx, m);
    FXT_CHECK(fx_ctx_live_blocks(ctx) == 0, "leak after failed builds: %zu blocks", fx_ctx_live_blocks(ctx));
}

void test_errors(void) {
    fx_ctx_new(&ctx);
    fxt_run("errors: XOR networks and FleXOR weights", test_xornet_errors);
    fxt_run("errors: shapes, labels, NaN, NULL", test_shape_errors);
    fxt_run("errors: model building and calls out of order", test_model_errors);
    fxt_run("errors: allocation failure and memory limit", test_memory_errors);
    fx_ctx_free(ctx);
}
