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
fx_status fxw_lenet5(fx_ctx *ctx, fx_model **out, int q, int n_out, int n_in, int n_tap, uint32_t seed_lo, uint32_t seed_hi, const int32_t *n_in4, int max_batch, int training);
fx_status fxw_resnet_cifar(fx_ctx *ctx, fx_model **out, int depth, int q, int n_out, int n_in0, int n_in1, int n_in2, int n_tap, uint32_t seed_lo, uint32_t seed_hi, int max_batch, int training);
fx_status fxw_model_save(fx_ctx *ctx, const fx_model *m, int kind, const void *extra, uint32_t extra_len, uint8_t **buf, uint32_t *len);
fx_status fxw_model_load(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int max_batch, int training, fx_model **out, const uint8_t **extra, uint32_t *extra_len);
fx_status fxw_dataset_new(fx_ctx *ctx, fx_dataset **out, const uint8_t *images, const uint8_t *labels, int n, int c, int h, int w, const float *mean3, const float *std3, int augment);
void fxw_dataset_free(fx_ctx *ctx, fx_dataset *d);
fx_status fxw_trainer_new(fx_ctx *ctx, fx_trainer **out, fx_model *m, fx_model *teacher, const fx_dataset *ds, int sched_kind, float lr, float warmup, float epochs, float gamma, const float *milestones, int n_milestones, float s_tanh, float s_tanh0, int opt_kind, float momentum, int nesterov, float beta1, float beta2, float eps, float wd, int mode, int batch, uint32_t seed_lo, uint32_t seed_hi, float T, float kd);
fx_status fxw_trainer_run(fx_ctx *ctx, fx_trainer *tr, int max_steps, double *out10);
fx_status fxw_idx_parse(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int32_t *dims5, const uint8_t **data);
fx_status fxw_cifar_parse(fx_ctx *ctx, const uint8_t *buf, uint32_t len, int32_t *n, uint8_t *labels, uint8_t *images);
fx_status fxw_model_init_from(fx_ctx *ctx, fx_model *m, const fx_model *src, float mag, uint32_t seed_lo, uint32_t seed_hi, int32_t *counts2);

#endif
