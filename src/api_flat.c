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

/* Node description as 16 int32: kind, in0, in1, c, h, w, c_out, k, stride, pad, bias, flexor,
 * n_out, n_in, n_tap, q; then macs as a double in out_macs. */
fx_status fxw_model_node(fx_ctx *ctx, const fx_model *m, int id, int32_t *out16, double *out_macs) {
    fx_node_info ni;
    fx_status s = fx_model_node_info(ctx, m, id, &ni);
    if (s) return s;
    FX_CHECK_PTR(ctx, "fxw_model_node", out16);
    int32_t v[16] = {ni.kind, ni.in0, ni.in1, ni.c, ni.h, ni.w, ni.c_out, ni.k, ni.stride, ni.pad, ni.bias, ni.flexor,
                     ni.geom ? ni.geom->cfg.n_out : 0, ni.geom ? ni.geom->cfg.n_in : 0,
                     ni.geom ? ni.geom->cfg.n_tap : 0, ni.geom ? ni.geom->cfg.q : 0};
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
