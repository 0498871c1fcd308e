/*
 * api_flat.c - a flat C ABI for JavaScript (wasm/flexor.js): only ints, floats and pointers cross the
 * boundary, so no struct layout or 64-bit integer has to be mirrored in JS. Every function returns an
 * fx_status like the rest of the API; handles are pointers into the module's memory.
 */
#include "api_flat.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static uint64_t seed64(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

/* Heap helpers for JS-side buffers; NULL on failure (JS reports the size it asked for). */
void *fxw_malloc(size_t n) { return malloc(n ? n : 1); }
void fxw_free(void *p) { free(p); }

fx_ctx *fxw_ctx_new(void) {
    fx_ctx *c = NULL;
    return fx_ctx_new(&c) == FX_OK ? c : NULL;
}

int fxw_version(void) { return FX_VERSION_MAJOR * 10000 + FX_VERSION_MINOR * 100 + FX_VERSION_PATCH; }

fx_status fxw_xornet_masks(fx_ctx *ctx, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi,
                           int plane, uint32_t *masks) {
    fx_xornet net;
    fx_status s = fx_xornet_init(ctx, &net, n_out, n_in, n_tap, seed64(seed_lo, seed_hi), plane);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_xornet_masks", masks);
    memcpy(masks, net.mask, sizeof(uint32_t) * (size_t)n_out);
    return FX_OK;
}

/* Decrypts n packed encrypted words with the network of (n_out, n_in, n_tap, seed, plane). */
fx_status fxw_decrypt(fx_ctx *ctx, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int plane,
                      const uint32_t *enc, uint32_t *dec, int n) {
    fx_xornet net;
    fx_status s = fx_xornet_init(ctx, &net, n_out, n_in, n_tap, seed64(seed_lo, seed_hi), plane);
    return s ? s : fx_flexor_decrypt(ctx, &net, enc, dec, n);
}

static const fx_flexor_cfg *cfg_of(fx_flexor_cfg *c, int n_out, int n_in, int n_tap, int q, uint32_t lo, uint32_t hi) {
    if (q <= 0) return NULL; /* q = 0: full precision */
    c->n_out = n_out; c->n_in = n_in; c->n_tap = n_tap; c->q = q; c->seed = seed64(lo, hi);
    return c;
}

fx_status fxw_model_new(fx_ctx *ctx, fx_model **out, int c, int h, int w) { return fx_model_new(ctx, out, c, h, w); }

fx_status fxw_model_conv(fx_ctx *ctx, fx_model *m, int in, int c_out, int k, int stride, int pad, int bias, int q,
                         int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int *id) {
    fx_flexor_cfg c;
    return fx_model_conv(ctx, m, in, c_out, k, stride, pad, bias, cfg_of(&c, n_out, n_in, n_tap, q, seed_lo, seed_hi), id);
}

fx_status fxw_model_dense(fx_ctx *ctx, fx_model *m, int in, int out, int bias, int q, int n_out, int n_in, int n_tap,
                          uint32_t seed_lo, uint32_t seed_hi, int *id) {
    fx_flexor_cfg c;
    return fx_model_dense(ctx, m, in, out, bias, cfg_of(&c, n_out, n_in, n_tap, q, seed_lo, seed_hi), id);
}

fx_status fxw_model_init_params(fx_ctx *ctx, fx_model *m, uint32_t seed_lo, uint32_t seed_hi, float alpha_init,
                                float lat_std) {
    return fx_model_init_params(ctx, m, seed64(seed_lo, seed_hi), alpha_init, lat_std);
}

fx_status fxw_model_step(fx_ctx *ctx, fx_model *m, int kind, float momentum, int nesterov, float beta1, float beta2,
                         float eps, float weight_decay, float lr) {
    fx_optim_cfg o = {(fx_optim_kind)kind, momentum, nesterov, beta1, beta2, eps, weight_decay};
    return fx_model_step(ctx, m, &o, lr);
}

/* Node description as 18 int32: kind, in0, in1, c, h, w, c_out, k, stride, pad, bias, flexor,
 * n_out, n_in, n_tap, q, seed_lo, seed_hi; then macs as a double in out_macs. */
fx_status fxw_model_node(fx_ctx *ctx, const fx_model *m, int id, int32_t *out16, double *out_macs) {
    fx_node_info ni;
    fx_status s = fx_model_node_info(ctx, m, id, &ni);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_model_node", out16);
    int32_t v[18] = {ni.kind, ni.in0, ni.in1, ni.c, ni.h, ni.w, ni.c_out, ni.k, ni.stride, ni.pad, ni.bias, ni.flexor,
                     ni.geom ? ni.geom->cfg.n_out : 0, ni.geom ? ni.geom->cfg.n_in : 0,
                     ni.geom ? ni.geom->cfg.n_tap : 0, ni.geom ? ni.geom->cfg.q : 0,
                     ni.geom ? (int32_t)(uint32_t)ni.geom->cfg.seed : 0,
                     ni.geom ? (int32_t)(uint32_t)(ni.geom->cfg.seed >> 32) : 0};
    memcpy(out16, v, sizeof v);
    if (out_macs) *out_macs = (double)ni.macs;
    return FX_OK;
}

/* The XOR masks of plane p of a FleXOR node (n_out words). */
fx_status fxw_model_node_masks(fx_ctx *ctx, const fx_model *m, int id, int plane, uint32_t *masks) {
    fx_node_info ni;
    fx_status s = fx_model_node_info(ctx, m, id, &ni);
    if (s) return s;
    if (!ni.geom) return fx_fail(ctx, FX_EINVAL, "fxw_model_node_masks: node %d is not a FleXOR layer", id);
    if (plane < 0 || plane >= ni.geom->cfg.q) return fx_fail(ctx, FX_EINVAL, "fxw_model_node_masks: plane %d of %d", plane, ni.geom->cfg.q);
    FX_CHECK_PTR(ctx, "fxw_model_node_masks", masks);
    memcpy(masks, ni.geom->net[plane].mask, sizeof(uint32_t) * (size_t)ni.geom->cfg.n_out);
    return FX_OK;
}

/* Parameter i: writes its name (up to 23 chars + NUL) into name24, and node, kind, len (as double), data
 * and grad pointers. */
fx_status fxw_model_param(fx_ctx *ctx, const fx_model *m, int i, char *name24, int32_t *node_kind2, double *len,
                          float **data, float **grad) {
    fx_param_info pi;
    fx_status s = fx_model_param_info(ctx, m, i, &pi);
    if (s) return s;
    if (name24) { strncpy(name24, pi.name, 23); name24[23] = 0; }
    if (node_kind2) { node_kind2[0] = pi.node; node_kind2[1] = pi.kind; }
    if (len) *len = (double)pi.len;
    if (data) *data = pi.data;
    if (grad) *grad = pi.grad;
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Zoo, model files, datasets, trainer
 * ------------------------------------------------------------------------------------------------------- */

/* LeNet-5; q = 0 gives full precision. n_in4 (4 int32, may be NULL) overrides n_in per layer
 * (conv1, conv2, fc1, fc2); an entry of 0 keeps that layer in full precision. */
fx_status fxw_lenet5(fx_ctx *ctx, fx_model **out, int q, int n_out, int n_in, int n_tap, uint32_t seed_lo,
                     uint32_t seed_hi, const int32_t *n_in4, int max_batch, int training) {
    fx_flexor_cfg c[4];
    const fx_flexor_cfg *p[4];
    for (int i = 0; i < 4; i++) {
        int ni = n_in4 ? n_in4[i] : n_in;
        p[i] = cfg_of(&c[i], n_out, ni, n_tap, ni > 0 ? q : 0, seed_lo, seed_hi);
    }
    return fx_model_lenet5(ctx, out, p, max_batch, training);
}

/* CIFAR ResNet-depth; q = 0 gives full precision; n_in per stage. */
fx_status fxw_resnet_cifar(fx_ctx *ctx, fx_model **out, int depth, int q, int n_out, int n_in0, int n_in1, int n_in2,
                           int n_tap, uint32_t seed_lo, uint32_t seed_hi, int max_batch, int training) {
    fx_flexor_cfg st[3];
    int nin[3] = {n_in0, n_in1, n_in2};
    for (int i = 0; i < 3; i++) {
        cfg_of(&st[i], n_out, nin[i], n_tap, q, seed_lo, seed_hi);
        st[i].q = q;
    }
    return fx_model_resnet_cifar(ctx, out, depth, q > 0 ? st : NULL, max_batch, training);
}

fx_status fxw_model_save(fx_ctx *ctx, const fx_model *m, int kind, const void *extra, uint32_t extra_len,
                         uint8_t **buf, uint32_t *len) {
    size_t l = 0;
    fx_status s = fx_model_save(ctx, m, (fx_save_kind)kind, extra, extra_len, buf, &l);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_model_save", len);
    if (l > 0xFFFFFFFFu) { fx_buffer_free(ctx, *buf); return fx_fail(ctx, FX_ENOMEM, "fxw_model_save: file too large"); }
    *len = (uint32_t)l;
    return FX_OK;
}

fx_status fxw_model_load(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int max_batch, int training, fx_model **out,
                         const uint8_t **extra, uint32_t *extra_len) {
    return fx_model_load(ctx, buf, len, max_batch, training, out, extra, extra_len);
}

/* A dataset descriptor over caller-owned bytes (which must outlive it), owned by ctx. */
fx_status fxw_dataset_new(fx_ctx *ctx, fx_dataset **out, const uint8_t *images, const uint8_t *labels, int n, int c,
                          int h, int w, const float *mean3, const float *std3, int augment) {
    static const char fn[] = "fxw_dataset_new";
    FX_CHECK_PTR(ctx, fn, out);
    FX_CHECK_PTR(ctx, fn, images);
    FX_CHECK_PTR(ctx, fn, labels);
    FX_CHECK_PTR(ctx, fn, mean3);
    FX_CHECK_PTR(ctx, fn, std3);
    FX_CHECK_POS(ctx, fn, n);
    if (c < 1 || c > 3) return fx_fail(ctx, FX_ESHAPE, "%s: %d channels (1..3)", fn, c);
    FX_CHECK_POS(ctx, fn, h);
    FX_CHECK_POS(ctx, fn, w);
    fx_dataset *d = fx_alloc(ctx, sizeof *d, "a dataset descriptor");
    if (!d) return FX_ENOMEM;
    d->n = n; d->c = c; d->h = h; d->w = w; d->images = images; d->labels = labels; d->augment = augment;
    for (int i = 0; i < 3; i++) { d->mean[i] = mean3[i]; d->std[i] = std3[i]; }
    *out = d;
    return FX_OK;
}

void fxw_dataset_free(fx_ctx *ctx, fx_dataset *d) { fx_free(ctx, d); }

fx_status fxw_trainer_new(fx_ctx *ctx, fx_trainer **out, fx_model *m, fx_model *teacher, const fx_dataset *ds,
                          int sched_kind, float lr, float warmup, float epochs, float gamma, const float *milestones,
                          int n_milestones, float s_tanh, float s_tanh0, int opt_kind, float momentum, int nesterov,
                          float beta1, float beta2, float eps, float wd, int mode, int batch, uint32_t seed_lo,
                          uint32_t seed_hi, float T, float kd) {
    if (n_milestones < 0 || n_milestones > FX_MAX_MILESTONES)
        return fx_fail(ctx, FX_EINVAL, "fxw_trainer_new: %d milestones (at most %d)", n_milestones, FX_MAX_MILESTONES);
    if (n_milestones) FX_CHECK_PTR(ctx, "fxw_trainer_new", milestones);
    fx_train_cfg c;
    memset(&c, 0, sizeof c);
    c.sched.kind = (fx_sched_kind)sched_kind;
    c.sched.base_lr = lr; c.sched.warmup = warmup; c.sched.epochs = epochs; c.sched.gamma = gamma;
    c.sched.n_milestones = n_milestones;
    for (int i = 0; i < n_milestones; i++) c.sched.milestones[i] = milestones[i];
    c.sched.s_tanh = s_tanh; c.sched.s_tanh0 = s_tanh0;
    fx_optim_cfg o = {(fx_optim_kind)opt_kind, momentum, nesterov, beta1, beta2, eps, wd};
    c.opt = o;
    c.mode = (fx_bwd_mode)mode;
    c.batch = batch;
    c.seed = seed64(seed_lo, seed_hi);
    c.T = T; c.kd = kd;
    return fx_trainer_new(ctx, out, m, teacher, ds, &c);
}

/* Runs up to max_steps; out10 = epoch, step, steps_per_epoch, epoch_done, run_done, loss_sum, seen,
 * correct, lr, s_tanh. */
fx_status fxw_trainer_run(fx_ctx *ctx, fx_trainer *tr, int max_steps, double *out10) {
    fx_train_stats st;
    fx_status s = fx_trainer_run(ctx, tr, max_steps, &st);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_trainer_run", out10);
    double v[10] = {st.epoch, st.step, st.steps_per_epoch, st.epoch_done, st.run_done, st.loss_sum, st.seen,
                    st.correct, st.lr, st.s_tanh};
    memcpy(out10, v, sizeof v);
    return FX_OK;
}

/* IDX: dims5[0] = rank, dims5[1..4] = dimensions; *data points into buf. */
fx_status fxw_idx_parse(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int32_t *dims5, const uint8_t **data) {
    int nd = 0, d[4] = {0};
    fx_status s = fx_idx_parse(ctx, buf, len, &nd, d, data);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_idx_parse", dims5);
    dims5[0] = nd;
    for (int i = 0; i < 4; i++) dims5[i + 1] = d[i];
    return FX_OK;
}

fx_status fxw_cifar_parse(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int32_t *n, uint8_t *labels, uint8_t *images) {
    int k = 0;
    fx_status s = fx_cifar_parse(ctx, buf, len, &k, labels, images);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_cifar_parse", n);
    *n = k;
    return FX_OK;
}

/* fx_model_init_from; counts2 (may be NULL) receives copied, encrypted. */
fx_status fxw_model_init_from(fx_ctx *ctx, fx_model *m, const fx_model *src, float mag, uint32_t seed_lo,
                              uint32_t seed_hi, int32_t *counts2) {
    int c = 0, e = 0;
    fx_status s = fx_model_init_from(ctx, m, src, mag, seed64(seed_lo, seed_hi), &c, &e);
    if (s) return s;
    if (counts2) { counts2[0] = c; counts2[1] = e; }
    return FX_OK;
}
