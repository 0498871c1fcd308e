/*
 * test_modelfile.c - the model file format (docs/FORMAT.md): save -> load gives identical outputs
 * (inference files from sign bits only) and identical training state (checkpoints); and every malformed
 * file is rejected with a message naming the problem: each truncation, each flipped byte, wrong magic or
 * version, trailing garbage, inconsistent graphs and shapes, NaN parameters (the last ones with a valid
 * checksum, so the field checks themselves are exercised).
 */
#include "../../src/flexor.h"
#include "fxtest.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fx_ctx *ctx;

/* conv(FleXOR, q=2, random fill) -> BN -> ReLU -> maxpool -> shortcut/add -> GAP -> dense(FleXOR, bias) */
static fx_model *small_model(int training) {
    fx_model *m = NULL;
    int a, b, c;
    fx_flexor_cfg f1 = {20, 12, 0, 2, 77}, f2 = {10, 4, 2, 1, 78};
    fx_model_new(ctx, &m, 2, 8, 8);
    int ok = fx_model_conv(ctx, m, 0, 6, 3, 1, 1, 0, &f1, &a) == FX_OK;
    ok &= fx_model_bn(ctx, m, a, &a) == FX_OK;
    ok &= fx_model_relu(ctx, m, a, &a) == FX_OK;
    ok &= fx_model_maxpool(ctx, m, a, 2, 2, &a) == FX_OK;
    ok &= fx_model_shortcut(ctx, m, 0, 6, 2, &b) == FX_OK;
    ok &= fx_model_add(ctx, m, a, b, &c) == FX_OK;
    ok &= fx_model_gap(ctx, m, c, &c) == FX_OK;
    ok &= fx_model_dense(ctx, m, c, 5, 1, &f2, &c) == FX_OK;
    FXT_CHECK(ok && fx_model_node_count(m) == 9, "small model: %s", fx_ctx_message(ctx));
    FXT_CHECK(fx_model_build(ctx, m, 4, training) == FX_OK, "build: %s", fx_ctx_message(ctx));
    return m;
}

static void fill_input(float *x, int n) {
    fx_rng r;
    fx_rng_seed(&r, 5);
    for (int i = 0; i < n; i++) x[i] = fx_rng_normal(&r);
}

/* A model trained for two steps, so BN stats, alpha and the optimiser state are all non-trivial. */
static fx_model *trained_model(float *x, int32_t *labels) {
    fx_model *m = small_model(1);
    fx_model_init_params(ctx, m, 3, 0.3f, 0.05f);
    fx_optim_cfg opt = {FX_OPT_ADAM, 0, 0, 0.9f, 0.999f, 1e-8f, 1e-4f};
    for (int s = 0; s < 2; s++) {
        float loss;
        fx_model_forward(ctx, m, x, 4, 1, NULL);
        fx_model_backward(ctx, m, labels, NULL, 0, 0, &loss);
        fx_model_step(ctx, m, &opt, 0.01f);
    }
    return m;
}

static void test_roundtrip(void) {
    float x[4 * 2 * 64];
    int32_t labels[4] = {0, 1, 2, 4};
    fill_input(x, 4 * 2 * 64);
    fx_model *m = trained_model(x, labels);
    const float *z1, *z2;
    float ref[20];
    FXT_CHECK(fx_model_forward(ctx, m, x, 4, 0, &z1) == FX_OK, "forward: %s", fx_ctx_message(ctx));
    memcpy(ref, z1, sizeof ref);
    uint8_t *buf;
    size_t len;
    const char meta[] = "dataset=test\n";
    FXT_CHECK(fx_model_save(ctx, m, FX_SAVE_INFERENCE, meta, sizeof meta - 1, &buf, &len) == FX_OK, "save: %s", fx_ctx_message(ctx));
    fx_model *l = NULL;
    const uint8_t *extra;
    uint32_t xl;
    FXT_CHECK(fx_model_load(ctx, buf, len, 4, 0, &l, &extra, &xl) == FX_OK, "load: %s", fx_ctx_message(ctx));
    if (l) {
        FXT_CHECK(xl == sizeof meta - 1 && !memcmp(extra, meta, xl), "metadata not preserved");
        FXT_CHECK(fx_model_forward(ctx, l, x, 4, 0, &z2) == FX_OK, "forward loaded: %s", fx_ctx_message(ctx));
        FXT_CHECK(!memcmp(ref, z2, sizeof ref), "inference file: logits differ after save/load");
        /* saving the loaded model again gives the same bytes */
        uint8_t *buf2;
        size_t len2;
        fx_model_save(ctx, l, FX_SAVE_INFERENCE, meta, sizeof meta - 1, &buf2, &len2);
        FXT_CHECK(len2 == len && !memcmp(buf, buf2, len), "re-saved inference file differs");
        fx_buffer_free(ctx, buf2);
        fx_model_free(ctx, l);
    }
    fx_buffer_free(ctx, buf);

    /* checkpoint: one more step from the original and from the loaded copy must agree bit for bit */
    FXT_CHECK(fx_model_save(ctx, m, FX_SAVE_CHECKPOINT, NULL, 0, &buf, &len) == FX_OK, "save ckpt: %s", fx_ctx_message(ctx));
    l = NULL;
    FXT_CHECK(fx_model_load(ctx, buf, len, 4, 1, &l, NULL, NULL) == FX_OK, "load ckpt: %s", fx_ctx_message(ctx));
    fx_buffer_free(ctx, buf);
    if (l) {
        FXT_CHECK(fx_model_steps(l) == 2, "step count %lld, want 2", (long long)fx_model_steps(l));
        fx_optim_cfg opt = {FX_OPT_ADAM, 0, 0, 0.9f, 0.999f, 1e-8f, 1e-4f};
        fx_model *both[2] = {m, l};
        for (int k = 0; k < 2; k++) {
            float loss;
            fx_model_forward(ctx, both[k], x, 4, 1, NULL);
            fx_model_backward(ctx, both[k], labels, NULL, 0, 0, &loss);
            fx_model_step(ctx, both[k], &opt, 0.01f);
        }
        for (int i = 0; i < fx_model_param_count(m); i++) {
            fx_param_info a, b;
            fx_model_param_info(ctx, m, i, &a);
            fx_model_param_info(ctx, l, i, &b);
            FXT_CHECK(a.len == b.len && !memcmp(a.data, b.data, sizeof(float) * (size_t)a.len),
                      "checkpoint: parameter %s differs after one more step", a.name);
        }
        fx_model_free(ctx, l);
    }
    fx_model_free(ctx, m);
}

/* ---------------------------------------------------------------------------------------------------------
 * Malformed files
 * ------------------------------------------------------------------------------------------------------- */

static uint32_t crc32_ref(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* Re-seals a modified file with a correct CRC so the field checks behind it are reached. */
static void reseal(uint8_t *b, size_t len) { put32(b + len - 8, crc32_ref(b, len - 8)); }

static void expect_reject(const uint8_t *b, size_t len, fx_status want, const char *needle, const char *what) {
    fx_model *m = NULL;
    fx_ctx_clear(ctx);
    fx_status s = fx_model_load(ctx, b, len, 2, 0, &m, NULL, NULL);
    FXT_CHECK(s == want, "%s: status %s, want %s (%s)", what, fx_status_str(s), fx_status_str(want), fx_ctx_message(ctx));
    FXT_CHECK(m == NULL, "%s: a model was returned", what);
    FXT_CHECK(!needle || strstr(fx_ctx_message(ctx), needle), "%s: message \"%s\" lacks \"%s\"", what, fx_ctx_message(ctx), needle);
    fx_model_free(ctx, m);
}

static void test_malformed(void) {
    float x[4 * 2 * 64];
    int32_t labels[4] = {0, 1, 2, 4};
    fill_input(x, 4 * 2 * 64);
    fx_model *m = trained_model(x, labels);
    uint8_t *buf;
    size_t len;
    fx_model_save(ctx, m, FX_SAVE_INFERENCE, "meta", 4, &buf, &len);
    fx_model_free(ctx, m);
    uint8_t *b = malloc(len + 16);

    /* every truncation */
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        fx_model *l = NULL;
        if (fx_model_load(ctx, buf, n, 2, 0, &l, NULL, NULL) == FX_OK) bad++;
        fx_model_free(ctx, l);
    }
    FXT_CHECK(bad == 0, "%d truncated files were accepted", bad);
    expect_reject(buf, len - 1, FX_EFORMAT, "truncated", "one byte short");
    expect_reject(buf, 10, FX_EFORMAT, "truncated", "10 bytes");

    /* every single flipped byte */
    bad = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(b, buf, len);
        b[i] ^= 0x40;
        fx_model *l = NULL;
        if (fx_model_load(ctx, b, len, 2, 0, &l, NULL, NULL) == FX_OK) bad++;
        fx_model_free(ctx, l);
    }
    FXT_CHECK(bad == 0, "%d files with a flipped byte were accepted", bad);
    memcpy(b, buf, len);
    b[len / 2] ^= 1;
    expect_reject(b, len, FX_EFORMAT, "checksum mismatch", "flipped bit");

    memcpy(b, buf, len);
    memcpy(b, "GGUF", 4);
    expect_reject(b, len, FX_EFORMAT, "wrong magic", "magic");
    memcpy(b, buf, len);
    put32(b + 4, 2);
    reseal(b, len);
    expect_reject(b, len, FX_EVERSION, "version 2", "version");
    memcpy(b, buf, len);
    memcpy(b + len, "garbage!", 8);
    expect_reject(b, len + 8, FX_EFORMAT, "trailing garbage", "trailing garbage");

    /* inconsistent graph: node 1 (the conv) claims 7 output channels; BN and the add no longer fit */
    memcpy(b, buf, len);
    put32(b + 32 + 3 * 4, 7);
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "node", "inconsistent c_out");
    /* an add that reads a later node */
    memcpy(b, buf, len);
    put32(b + 32 + 5 * 64 + 2 * 4, 7); /* node 6 (add): in1 = 7 */
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "does not come before it", "forward reference");
    /* absurd sizes */
    memcpy(b, buf, len);
    put32(b + 32 + 3 * 4, 1u << 30);
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "absurd", "absurd c_out");
    memcpy(b, buf, len);
    put32(b + 12, 100000);
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "nodes", "node count");
    memcpy(b, buf, len);
    put32(b + 16, 3);
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "parameters", "param count");
    /* XOR network settings the core cannot build: n_in > n_out in node 1 */
    memcpy(b, buf, len);
    put32(b + 32 + 11 * 4, 24);
    reseal(b, len);
    expect_reject(b, len, FX_EFORMAT, "n_in must be in 1..n_out", "n_in > n_out");
    fx_buffer_free(ctx, buf);

    /* NaN in a full-precision parameter (BN gamma is the first f32 block after the packed bits) */
    m = trained_model(x, labels);
    fx_param_info g;
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_model_param_info(ctx, m, i, &g);
        if (g.kind == FX_PARAM_GAMMA) { g.data[1] = NAN; break; }
    }
    fx_model_save(ctx, m, FX_SAVE_INFERENCE, NULL, 0, &buf, &len);
    expect_reject(buf, len, FX_ENUMERIC, "gamma[1] is nan", "NaN parameter");
    fx_buffer_free(ctx, buf);
    fx_model_free(ctx, m);
    free(b);
    FXT_CHECK(fx_ctx_live_blocks(ctx) == 0, "leak: %zu blocks after the malformed-file tests", fx_ctx_live_blocks(ctx));
}

void test_modelfile(void) {
    fx_ctx_new(&ctx);
    fxt_run("model file: save/load round trips (inference and checkpoint)", test_roundtrip);
    fxt_run("model file: truncations, flipped bytes, bad fields", test_malformed);
    fx_ctx_free(ctx);
}
