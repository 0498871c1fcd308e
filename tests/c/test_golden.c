/*
 * test_golden.c - the C core against the PyTorch reference (tools/flexor_ref.py -> the .fxg files in tests/golden):
 * RNG, XOR masks and decrypted bits (exact), every layer's outputs and gradients, optimiser steps,
 * schedules, and a tiny network trained for three steps in each backward mode (atol + rtol per tensor).
 */
#include "../../src/flexor.h"
#include "fxg.h"
#include "fxtest.h"
#include <stdlib.h>
#include <string.h>

/* Tolerances: the reference computes in float64 from the same float32 inputs. */
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
#define GRAD_ATOL 1e-5
#define GRAD_RTOL 1e-3

static fx_ctx *ctx;

/* name("conv", 0, "x") -> "conv0.x"; a ring of buffers so several names can be live at once. */
static const char *nm(const char *prefix, int k, const char *field) {
    static char ring[8][96];
    static int at;
    char *b = ring[at++ & 7];
    if (k >= 0) snprintf(b, 96, "%s%d.%s", prefix, k, field);
    else snprintf(b, 96, "%s.%s", prefix, field);
    return b;
}

static float *zeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static float *ws_alloc(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    memset(p, 0, n * sizeof(float));
    return p;
}

#define OK(call) do { fx_status s_ = (call); FXT_CHECK(s_ == FX_OK, "%s -> %s: %s", #call, fx_status_str(s_), fx_ctx_message(ctx)); } while (0)

/* ---------------------------------------------------------------------------------------------------------
 * RNG and masks
 * ------------------------------------------------------------------------------------------------------- */

static void test_rng_xor(void) {
    fxg_file f;
    if (!fxg_load(&f, "rng_xor.fxg")) return;
    uint64_t seed = fxg_u64(&f, "rng.seed");
    fx_rng r;
    int got[16];
    fx_rng_seed(&r, seed);
    for (int i = 0; i < 16; i++) got[i] = (int)fx_rng_u32(&r);
    fxt_equal_i32("rng.u32", got, fxg_i32(&f, "rng.u32"), 16);
    fx_rng_seed(&r, seed);
    for (int i = 0; i < 16; i++) got[i] = (int)fx_rng_below(&r, 7);
    fxt_equal_i32("rng.below7", got, fxg_i32(&f, "rng.below7"), 16);
    float u[16];
    fx_rng_seed(&r, seed);
    for (int i = 0; i < 16; i++) u[i] = fx_rng_uniform(&r);
    fxt_close("rng.uniform", u, fxg_f32(&f, "rng.uniform"), 16, 0, 0);
    fx_rng_seed(&r, seed);
    for (int i = 0; i < 16; i++) u[i] = fx_rng_normal(&r);
    fxt_close("rng.normal", u, fxg_f32(&f, "rng.normal"), 16, 1e-6, 1e-6);

    int cases = fxg_int(&f, "cases");
    for (int k = 0; k < cases; k++) {
        fx_xornet net;
        OK(fx_xornet_init(ctx, &net, fxg_int(&f, nm("xor", k, "n_out")), fxg_int(&f, nm("xor", k, "n_in")),
                          fxg_int(&f, nm("xor", k, "n_tap")), fxg_u64(&f, nm("xor", k, "seed")),
                          fxg_int(&f, nm("xor", k, "plane"))));
        fxt_equal_i32(nm("xor", k, "masks"), (const int *)net.mask, fxg_i32(&f, nm("xor", k, "masks")), net.n_out);
    }
    fxg_close(&f);
}

/* ---------------------------------------------------------------------------------------------------------
 * FleXOR weights: decryption (exact bits) and the three backward modes
 * ------------------------------------------------------------------------------------------------------- */

static void check_weight_file(const char *file) {
    fxg_file f;
    if (!fxg_load(&f, file)) return;
    int cases = fxg_int(&f, "cases");
    for (int k = 0; k < cases; k++) {
        fx_flexor_cfg cfg = {fxg_int(&f, nm("w", k, "n_out")), fxg_int(&f, nm("w", k, "n_in")),
                             fxg_int(&f, nm("w", k, "n_tap")), fxg_int(&f, nm("w", k, "q")),
                             fxg_u64(&f, nm("w", k, "seed"))};
        fx_flexor_geom g;
        OK(fx_flexor_geom_init(ctx, &g, &cfg, fxg_int(&f, nm("w", k, "c_out")), fxg_int(&f, nm("w", k, "c_in")),
                               fxg_int(&f, nm("w", k, "k"))));
        fx_bwd_mode mode = strstr(file, "ste") ? FX_BWD_STE : strstr(file, "analog") ? FX_BWD_ANALOG : FX_BWD_FLEXOR;
        const float *x = fxg_f32(&f, nm("w", k, "x")), *alpha = fxg_f32(&f, nm("w", k, "alpha"));
        float *W = zeros(g.n), *dx = zeros(g.n_lat * cfg.q), *da = zeros((long)cfg.q * g.c_out);
        uint32_t *bits = calloc((size_t)(g.n_slices * cfg.q), 4);
        int *bits01 = calloc((size_t)(g.n_slices * cfg.n_out * cfg.q), sizeof(int));
        OK(fx_flexor_weight_forward(ctx, &g, x, alpha, W, bits));
        for (long j = 0; j < g.n_slices * cfg.q; j++)
            for (int r = 0; r < cfg.n_out; r++) bits01[j * cfg.n_out + r] = (int)((bits[j] >> r) & 1u);
        fxt_equal_i32(nm("w", k, "bits"), bits01, fxg_i32(&f, nm("w", k, "bits")), g.n_slices * cfg.n_out * cfg.q);
        fxt_close(nm("w", k, "W"), W, fxg_f32(&f, nm("w", k, "W")), (long)g.n, 1e-6, 1e-6);
        /* the inference path (packed sign bits only) must give the same weights bit for bit */
        uint32_t *enc = calloc((size_t)(g.n_slices * cfg.q), 4);
        float *W2 = zeros(g.n);
        for (int p = 0; p < cfg.q; p++) OK(fx_flexor_pack(ctx, &g, x + p * g.n_lat, enc + p * g.n_slices));
        OK(fx_flexor_weight_from_bits(ctx, &g, enc, alpha, W2));
        FXT_CHECK(!memcmp(W, W2, sizeof(float) * (size_t)g.n), "%s: weights from packed bits differ", file);
        OK(fx_flexor_weight_backward(ctx, &g, mode, fxg_float(&f, nm("w", k, "S")), x, alpha,
                                     fxg_f32(&f, nm("w", k, "dW")), dx, da));
        fxt_close(nm("w", k, "dx"), dx, fxg_f32(&f, nm("w", k, "dx")), (long)(g.n_lat * cfg.q), GRAD_ATOL, GRAD_RTOL);
        fxt_close(nm("w", k, "dalpha"), da, fxg_f32(&f, nm("w", k, "dalpha")), (long)cfg.q * g.c_out, GRAD_ATOL, GRAD_RTOL);
        free(W); free(W2); free(dx); free(da); free(bits); free(bits01); free(enc);
    }
    fxg_close(&f);
}

static void test_weights(void) {
    check_weight_file("flexor_weight_flexor.fxg");
    check_weight_file("flexor_weight_ste.fxg");
    check_weight_file("flexor_weight_analog.fxg");
}

/* ---------------------------------------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------------------------------------- */

#define I(field) fxg_int(f, nm(pre, k, field))
#define F(field) fxg_f32(f, nm(pre, k, field))
#define CLOSE_FWD(field, got, n) fxt_close(nm(pre, k, field), got, F(field), n, FWD_ATOL, FWD_RTOL)
#define CLOSE_GRAD(field, got, n) fxt_close(nm(pre, k, field), got, F(field), n, GRAD_ATOL, GRAD_RTOL)

/* Convolution, optionally with FleXOR weights decoded from latent values. */
static void conv_case(const fxg_file *f, const char *pre, int k, int flexor) {
    fx_conv_shape s;
    OK(fx_conv_shape_init(ctx, &s, I("N"), I("C_in"), I("H"), I("W"), I("C_out"), I("K"), I("stride"), I("pad")));
    long nx = (long)s.n * s.c_in * s.h * s.w, ny = (long)s.n * s.c_out * s.h_out * s.w_out;
    long nw = (long)s.c_out * s.c_in * s.k * s.k;
    float *y = zeros(ny), *dx = zeros(nx), *dw = zeros(nw), *db = zeros(s.c_out);
    float *ws = ws_alloc(fx_conv2d_ws_floats(&s));
    const float *w = NULL, *b = NULL;
    float *Wd = NULL;
    fx_flexor_geom g;
    if (flexor) {
        fx_flexor_cfg cfg = {I("n_out"), I("n_in"), I("n_tap"), I("q"), fxg_u64(f, nm(pre, k, "seed"))};
        OK(fx_flexor_geom_init(ctx, &g, &cfg, s.c_out, s.c_in, s.k));
        Wd = zeros(nw);
        OK(fx_flexor_weight_forward(ctx, &g, F("lat"), F("alpha"), Wd, NULL));
        w = Wd;
    } else {
        w = F("w");
        b = I("has_bias") ? F("b") : NULL;
    }
    OK(fx_conv2d_forward(ctx, &s, y, F("x"), w, b, ws));
    CLOSE_FWD("y", y, ny);
    OK(fx_conv2d_backward(ctx, &s, dx, dw, b ? db : NULL, F("dy"), F("x"), w, ws));
    CLOSE_GRAD("dx", dx, nx);
    if (flexor) {
        long nl = (long)(g.n_lat * g.cfg.q);
        float *dl = zeros(nl), *da = zeros((long)g.cfg.q * s.c_out);
        OK(fx_flexor_weight_backward(ctx, &g, (fx_bwd_mode)I("mode"), fxg_float(f, nm(pre, k, "S")), F("lat"),
                                     F("alpha"), dw, dl, da));
        CLOSE_GRAD("dlat", dl, nl);
        CLOSE_GRAD("dalpha", da, (long)g.cfg.q * s.c_out);
        free(dl); free(da); free(Wd);
    } else {
        CLOSE_GRAD("dw", dw, nw);
        if (b) CLOSE_GRAD("db", db, s.c_out);
    }
    free(y); free(dx); free(dw); free(db); free(ws);
}

static void dense_case(const fxg_file *f, const char *pre, int k, int flexor) {
    int n = I("N"), in = I("I"), out = I("O");
    float *y = zeros((long)n * out), *dx = zeros((long)n * in), *dw = zeros((long)in * out), *db = zeros(out);
    float *ws = ws_alloc(fx_dense_ws_floats());
    const float *w = flexor ? NULL : F("w");
    float *Wd = NULL;
    fx_flexor_geom g;
    if (flexor) {
        fx_flexor_cfg cfg = {I("n_out"), I("n_in"), I("n_tap"), I("q"), fxg_u64(f, nm(pre, k, "seed"))};
        OK(fx_flexor_geom_init(ctx, &g, &cfg, out, in, 0));
        Wd = zeros((long)in * out);
        OK(fx_flexor_weight_forward(ctx, &g, F("lat"), F("alpha"), Wd, NULL));
        w = Wd;
    }
    OK(fx_dense_forward(ctx, n, in, out, y, F("x"), w, F("b"), ws));
    CLOSE_FWD("y", y, (long)n * out);
    OK(fx_dense_backward(ctx, n, in, out, dx, dw, db, F("dy"), F("x"), w, ws));
    CLOSE_GRAD("dx", dx, (long)n * in);
    CLOSE_GRAD("db", db, out);
    if (flexor) {
        long nl = (long)(g.n_lat * g.cfg.q);
        float *dl = zeros(nl), *da = zeros((long)g.cfg.q * out);
        OK(fx_flexor_weight_backward(ctx, &g, (fx_bwd_mode)I("mode"), fxg_float(f, nm(pre, k, "S")), F("lat"),
                                     F("alpha"), dw, dl, da));
        CLOSE_GRAD("dlat", dl, nl);
        CLOSE_GRAD("dalpha", da, (long)g.cfg.q * out);
        free(dl); free(da); free(Wd);
    } else {
        CLOSE_GRAD("dw", dw, (long)in * out);
    }
    free(y); free(dx); free(dw); free(db); free(ws);
}

static void bn_case(const fxg_file *f, const char *pre, int k) {
    int n = I("N"), c = I("C"), hw = I("H") * I("W"), train = I("train");
    long len = (long)n * c * hw;
    float *y = zeros(len), *dx = zeros(len), *dg = zeros(c), *dbt = zeros(c), *cm = zeros(c), *cr = zeros(c);
    float *rm = zeros(c), *rv = zeros(c);
    memcpy(rm, F("rm"), sizeof(float) * (size_t)c);
    memcpy(rv, F("rv"), sizeof(float) * (size_t)c);
    OK(fx_bn_forward(ctx, n, c, hw, train, y, F("x"), F("gamma"), F("beta"), rm, rv, cm, cr));
    CLOSE_FWD("y", y, len);
    CLOSE_FWD("rm_out", rm, c);
    CLOSE_FWD("rv_out", rv, c);
    OK(fx_bn_backward(ctx, n, c, hw, train, dx, dg, dbt, F("dy"), F("x"), F("gamma"), cm, cr));
    CLOSE_GRAD("dx", dx, len);
    CLOSE_GRAD("dgamma", dg, c);
    CLOSE_GRAD("dbeta", dbt, c);
    free(y); free(dx); free(dg); free(dbt); free(cm); free(cr); free(rm); free(rv);
}

static void pool_case(const fxg_file *f, const char *pre, int k) {
    int n = I("N"), c = I("C"), h = I("H"), w = I("W"), kk = I("k"), s = I("s");
    int ho = (h - kk) / s + 1, wo = (w - kk) / s + 1;
    long ny = (long)n * c * ho * wo, nx = (long)n * c * h * w;
    float *y = zeros(ny), *dx = zeros(nx);
    int32_t *am = calloc((size_t)ny, 4);
    OK(fx_maxpool_forward(ctx, n, c, h, w, kk, s, y, am, F("x")));
    CLOSE_FWD("y", y, ny);
    OK(fx_maxpool_backward(ctx, n, c, h, w, kk, s, dx, F("dy"), am));
    CLOSE_GRAD("dx", dx, nx);
    free(y); free(dx); free(am);
}

static void shortcut_case(const fxg_file *f, const char *pre, int k) {
    int n = I("N"), ci = I("C_in"), h = I("H"), w = I("W"), co = I("C_out"), s = I("stride");
    long ny = (long)n * co * ((h + s - 1) / s) * ((w + s - 1) / s), nx = (long)n * ci * h * w;
    float *y = zeros(ny), *dx = zeros(nx);
    OK(fx_shortcut_forward(ctx, n, ci, h, w, co, s, y, F("x")));
    CLOSE_FWD("y", y, ny);
    OK(fx_shortcut_backward(ctx, n, ci, h, w, co, s, dx, F("dy")));
    CLOSE_GRAD("dx", dx, nx);
    free(y); free(dx);
}

static void loss_case(const fxg_file *f, const char *pre, int k, int distill) {
    const fxg_tensor *z = fxg_get(f, "%s", nm(pre, k, "z"));
    if (!z) return;
    int n = z->dims[0], kc = z->dims[1];
    float loss = 0, *dz = zeros((long)n * kc);
    if (distill)
        OK(fx_distill_forward_backward(ctx, n, kc, F("z"), F("t"), fxg_i32(f, nm(pre, k, "labels")),
                                       fxg_float(f, nm(pre, k, "T")), fxg_float(f, nm(pre, k, "a")), &loss, dz));
    else
        OK(fx_xent_forward_backward(ctx, n, kc, F("z"), fxg_i32(f, nm(pre, k, "labels")), &loss, dz));
    CLOSE_FWD("loss", &loss, 1);
    CLOSE_GRAD("dz", dz, (long)n * kc);
    free(dz);
}

static void test_layers(void) {
    fxg_file file, *f = &file;
    if (!fxg_load(f, "layers.fxg")) return;
    for (int k = 0; k < fxg_int(f, "conv.cases"); k++) conv_case(f, "conv", k, 0);
    for (int k = 0; k < fxg_int(f, "fconv.cases"); k++) conv_case(f, "fconv", k, 1);
    for (int k = 0; k < fxg_int(f, "dense.cases"); k++) dense_case(f, "dense", k, 0);
    for (int k = 0; k < fxg_int(f, "fdense.cases"); k++) dense_case(f, "fdense", k, 1);
    for (int k = 0; k < fxg_int(f, "bn.cases"); k++) bn_case(f, "bn", k);
    for (int k = 0; k < fxg_int(f, "pool.cases"); k++) pool_case(f, "pool", k);
    for (int k = 0; k < fxg_int(f, "shortcut.cases"); k++) shortcut_case(f, "shortcut", k);
    for (int k = 0; k < fxg_int(f, "xent.cases"); k++) loss_case(f, "xent", k, 0);
    for (int k = 0; k < fxg_int(f, "distill.cases"); k++) loss_case(f, "distill", k, 1);
    {
        const char *pre = "relu";
        int k = -1;
        long n = fxg_len(f, "relu.x");
        float *y = zeros(n), *dx = zeros(n);
        OK(fx_relu_forward(ctx, n, y, F("x")));
        CLOSE_FWD("y", y, n);
        OK(fx_relu_backward(ctx, n, dx, F("dy"), y));
        CLOSE_GRAD("dx", dx, n);
        free(y); free(dx);
    }
    {
        const char *pre = "gap";
        int k = -1;
        const fxg_tensor *x = fxg_get(f, "gap.x");
        if (x) {
            int n = x->dims[0], c = x->dims[1], hw = x->dims[2] * x->dims[3];
            float *y = zeros((long)n * c), *dx = zeros(x->count);
            OK(fx_gap_forward(ctx, n, c, hw, y, F("x")));
            CLOSE_FWD("y", y, (long)n * c);
            OK(fx_gap_backward(ctx, n, c, hw, dx, F("dy")));
            CLOSE_GRAD("dx", dx, x->count);
            free(y); free(dx);
        }
    }
    fxg_close(f);
}

/* ---------------------------------------------------------------------------------------------------------
 * Optimisers and schedules
 * ------------------------------------------------------------------------------------------------------- */

static void test_optim(void) {
    fxg_file file, *f = &file;
    if (!fxg_load(f, "optim.fxg")) return;
    for (int k = 0; k < fxg_int(f, "sgd.cases"); k++) {
        const char *pre = "sgd";
        int steps = I("steps"), n = I("n");
        float *p = zeros(n), *buf = zeros(n);
        memcpy(p, F("p0"), sizeof(float) * (size_t)n);
        for (int t = 0; t < steps; t++) {
            fx_sgd_step(n, p, F("grads") + (long)t * n, buf, fxg_float(f, nm(pre, k, "lr")),
                        fxg_float(f, nm(pre, k, "mom")), fxg_float(f, nm(pre, k, "wd")), I("nesterov"));
            fxt_close(nm(pre, k, "p"), p, F("p") + (long)t * n, n, FWD_ATOL, FWD_RTOL);
        }
        free(p); free(buf);
    }
    for (int k = 0; k < fxg_int(f, "adam.cases"); k++) {
        const char *pre = "adam";
        int steps = I("steps"), n = I("n");
        float *p = zeros(n), *m = zeros(n), *v = zeros(n);
        memcpy(p, F("p0"), sizeof(float) * (size_t)n);
        for (int t = 0; t < steps; t++) {
            fx_adam_step(n, p, F("grads") + (long)t * n, m, v, fxg_float(f, nm(pre, k, "lr")),
                         fxg_float(f, nm(pre, k, "b1")), fxg_float(f, nm(pre, k, "b2")),
                         fxg_float(f, nm(pre, k, "eps")), fxg_float(f, nm(pre, k, "wd")), t + 1);
            fxt_close(nm(pre, k, "p"), p, F("p") + (long)t * n, n, FWD_ATOL, FWD_RTOL);
        }
        free(p); free(m); free(v);
    }
    for (int k = 0; k < fxg_int(f, "sched.cases"); k++) {
        const char *pre = "sched";
        fx_schedule s;
        memset(&s, 0, sizeof s);
        s.kind = (fx_sched_kind)I("kind");
        s.base_lr = fxg_float(f, nm(pre, k, "base_lr"));
        s.warmup = fxg_float(f, nm(pre, k, "warmup"));
        s.epochs = fxg_float(f, nm(pre, k, "epochs"));
        s.gamma = fxg_float(f, nm(pre, k, "gamma"));
        s.s_tanh = fxg_float(f, nm(pre, k, "s"));
        s.s_tanh0 = fxg_float(f, nm(pre, k, "s0"));
        s.n_milestones = I("n_milestones");
        for (int i = 0; i < s.n_milestones && i < FX_MAX_MILESTONES; i++) s.milestones[i] = F("milestones")[i];
        int spe = I("steps_per_epoch"), total = I("total_steps");
        float *lr = zeros(total), *S = zeros(total);
        for (int t = 0; t < total; t++) {
            lr[t] = fx_schedule_lr(&s, (double)t / spe);
            S[t] = fx_schedule_stanh(&s, (double)t / spe);
        }
        CLOSE_FWD("lr", lr, total);
        CLOSE_FWD("S", S, total);
        free(lr); free(S);
    }
    fxg_close(f);
}

/* ---------------------------------------------------------------------------------------------------------
 * A tiny network trained for three SGD steps (model graph + optimiser end to end)
 * ------------------------------------------------------------------------------------------------------- */

static const struct { const char *golden; const char *param; } train_map[] = {
    {"conv.lat", "1.lat"}, {"conv.alpha", "1.alpha"}, {"bn.gamma", "2.gamma"}, {"bn.beta", "2.beta"},
    {"bn.rm", "2.rmean"}, {"bn.rv", "2.rvar"}, {"fc.lat", "5.lat"}, {"fc.alpha", "5.alpha"}, {"fc.b", "5.b"},
};
#define N_TRAIN_MAP (int)(sizeof train_map / sizeof train_map[0])

static float *param_by_name(fx_model *m, const char *name, long *len) {
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info pi;
        fx_model_param_info(ctx, m, i, &pi);
        if (!strcmp(pi.name, name)) { *len = (long)pi.len; return pi.data; }
    }
    FXT_CHECK(0, "model has no parameter %s", name);
    return NULL;
}

static void train_file(const char *file) {
    fxg_file f;
    if (!fxg_load(&f, file)) return;
    fx_model *m = NULL;
    int id;
    fx_flexor_cfg c1 = {20, 12, 2, 1, 11}, c2 = {20, 8, 2, 1, 12};
    OK(fx_model_new(ctx, &m, 3, 6, 6));
    if (!m) { fxg_close(&f); return; }
    OK(fx_model_conv(ctx, m, 0, 8, 3, 1, 1, 0, &c1, &id));
    OK(fx_model_bn(ctx, m, id, &id));
    OK(fx_model_relu(ctx, m, id, &id));
    OK(fx_model_gap(ctx, m, id, &id));
    OK(fx_model_dense(ctx, m, id, 10, 1, &c2, &id));
    OK(fx_model_build(ctx, m, 4, 1));
    OK(fx_model_set_flexor(ctx, m, (fx_bwd_mode)fxg_int(&f, "mode"), 10.0f));
    for (int i = 0; i < N_TRAIN_MAP; i++) {
        long len = 0;
        float *p = param_by_name(m, train_map[i].param, &len);
        FXT_CHECK(p && len == fxg_len(&f, train_map[i].golden), "%s: size %ld vs golden %ld", train_map[i].param,
                  len, fxg_len(&f, train_map[i].golden));
        if (p && len == fxg_len(&f, train_map[i].golden)) memcpy(p, fxg_f32(&f, train_map[i].golden), sizeof(float) * (size_t)len);
    }
    fx_model_touch(m);
    fx_optim_cfg opt = {FX_OPT_SGD, 0.9f, 0, 0, 0, 0, 1e-4f};
    char name[96];
    for (int step = 0; step < fxg_int(&f, "steps"); step++) {
        float loss = 0;
        OK(fx_model_forward(ctx, m, fxg_f32(&f, "x"), 4, 1, NULL));
        OK(fx_model_backward(ctx, m, fxg_i32(&f, "labels"), NULL, 0, 0, &loss));
        OK(fx_model_step(ctx, m, &opt, 0.05f));
        snprintf(name, sizeof name, "step%d.loss", step);
        fxt_close("train.loss", &loss, fxg_f32(&f, name), 1, FWD_ATOL, FWD_RTOL);
        for (int i = 0; i < N_TRAIN_MAP; i++) {
            long len = 0;
            float *p = param_by_name(m, train_map[i].param, &len);
            snprintf(name, sizeof name, "step%d.%s", step, train_map[i].golden);
            char what[64];
            snprintf(what, sizeof what, "train.%s", train_map[i].golden);
            if (p) fxt_close(what, p, fxg_f32(&f, name), len, GRAD_ATOL, GRAD_RTOL);
        }
    }
    fx_model_free(ctx, m);
    fxg_close(&f);
}

static void test_train(void) {
    train_file("train_flexor.fxg");
    train_file("train_ste.fxg");
    train_file("train_analog.fxg");
}

void test_golden(void) {
    fx_ctx_new(&ctx);
    fxt_run("golden: rng and XOR masks", test_rng_xor);
    fxt_run("golden: FleXOR weights, 3 backward modes", test_weights);
    fxt_run("golden: layers", test_layers);
    fxt_run("golden: optimisers and schedules", test_optim);
    fxt_run("golden: tiny network, 3 SGD steps, 3 modes", test_train);
    fx_ctx_free(ctx);
}
