/*
 * api_flat.h - the flat ABI that wasm/flexor.js calls (see api_flat.c): ints, floats and pointers only.
 */
#ifndef FX_API_FLAT_H
#define FX_API_FLAT_H
#include "flexor.h"

void *fxw_malloc(size_t n);
void fxw_free(void *p);
fx_ctx *fxw_ctx_new(void);
int fxw_version(void);
fx_status fxw_xornet_masks(fx_ctx *ctx, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int plane, uint32_t *masks);
fx_status fxw_decrypt(fx_ctx *ctx, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int plane, const uint32_t *enc, uint32_t *dec, int n);
fx_status fxw_model_new(fx_ctx *ctx, fx_model **out, int c, int h, int w);
fx_status fxw_model_conv(fx_ctx *ctx, fx_model *m, int in, int c_out, int k, int stride, int pad, int bias, int q, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int *id);
fx_status fxw_model_dense(fx_ctx *ctx, fx_model *m, int in, int out, int bias, int q, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int *id);
fx_status fxw_model_init_params(fx_ctx *ctx, fx_model *m, uint32_t seed_lo, uint32_t seed_hi, float alpha_init, float lat_std);
fx_status fxw_model_step(fx_ctx *ctx, fx_model *m, int kind, float momentum, int nesterov, float beta1, float beta2, float eps, float weight_decay, float lr);
fx_status fxw_model_node(fx_ctx *ctx, const fx_model *m, int id, int32_t *out16, double *out_macs);
fx_status fxw_model_node_masks(fx_ctx *ctx, const fx_model *m, int id, int plane, uint32_t *masks);
fx_status fxw_model_param(fx_ctx *ctx, const fx_model *m, int i, char *name24, int32_t *node_kind2, double *len, float **data, float **grad);

#endif
