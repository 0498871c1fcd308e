/*
 * flexor.h - the public C API of the FleXOR core.
 *
 * FleXOR (Lee et al., "FleXOR: Trainable Fractional Quantization", NeurIPS 2020): weights are binary codes
 * w = sum_p alpha_p * b_p, and every slice of n_out weight bits is decrypted from n_in stored bits by a fixed
 * XOR-gate network, so a layer costs q*n_in/n_out bits per weight. docs/CORE.md is the exact contract for
 * every formula here (RNG, mask generation, slicing order, tail policy, backward modes, optimisers).
 *
 * Conventions
 *  - Every public function returns fx_status; on failure the context keeps a message naming the problem
 *    (fx_ctx_message). Nothing calls exit() or abort().
 *  - Tensors are float32, row-major, batch first; images NCHW; conv weights OIHW.
 *  - Layer kernels (fx_conv2d_forward, ...) never allocate: they write into caller buffers, and their
 *    backward functions ACCUMULATE (+=) into gradient buffers that the caller zeroes once per step.
 *  - The model (fx_model) owns one arena for params, grads, optimiser state and activations.
 *  - No hidden globals except the once-chosen GEMM kernel (a pure function of the CPU).
 */
#ifndef FLEXOR_H
#define FLEXOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FX_VERSION_MAJOR 0
#define FX_VERSION_MINOR 1
#define FX_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------------------
 * Status and context
 * ------------------------------------------------------------------------------------------------------- */

typedef enum fx_status {
    FX_OK = 0,
    FX_EINVAL = 1,      /* a bad argument: null pointer, out-of-range value                    */
    FX_ESHAPE = 2,      /* tensor shapes that do not fit together                              */
    FX_ENOMEM = 3,      /* an allocation failed or would pass the context's memory limit       */
    FX_EFORMAT = 4,     /* a malformed file or buffer (model file, dataset)                    */
    FX_EVERSION = 5,    /* a file of an unsupported version                                    */
    FX_ENUMERIC = 6,    /* NaN or Inf where a finite number is required                        */
    FX_ESTATE = 7,      /* a call out of order (e.g. backward before forward)                  */
    FX_EUNSUPPORTED = 8 /* a valid request this build cannot do                                */
} fx_status;

typedef struct fx_ctx fx_ctx;

/* Creates a context (error message + allocation accounting). *out is NULL on failure. */
fx_status fx_ctx_new(fx_ctx **out);
void fx_ctx_free(fx_ctx *ctx);
/* The message of the last failure ("" when none). Valid until the next call on ctx. */
const char *fx_ctx_message(const fx_ctx *ctx);
fx_status fx_ctx_last_status(const fx_ctx *ctx);
void fx_ctx_clear(fx_ctx *ctx);
/* Caps the bytes this context may hold allocated (0 = no cap). Allocations past it fail with FX_ENOMEM. */
void fx_ctx_set_mem_limit(fx_ctx *ctx, size_t bytes);
/* Bytes and blocks currently allocated through ctx (for leak tests). */
/* Default thread count of models built through ctx (native builds; see fx_model_set_threads). */
void fx_ctx_set_threads(fx_ctx *ctx, int n);
size_t fx_ctx_mem_used(const fx_ctx *ctx);
size_t fx_ctx_live_blocks(const fx_ctx *ctx);

const char *fx_status_str(fx_status s);

/* ---------------------------------------------------------------------------------------------------------
 * RNG: SplitMix64 (docs/CORE.md "RNG"); explicit state, no globals.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct fx_rng { uint64_t state; } fx_rng;

void fx_rng_seed(fx_rng *r, uint64_t seed);
uint64_t fx_rng_next(fx_rng *r);
uint32_t fx_rng_u32(fx_rng *r);
uint32_t fx_rng_below(fx_rng *r, uint32_t n);
float fx_rng_uniform(fx_rng *r);
float fx_rng_normal(fx_rng *r);

/* ---------------------------------------------------------------------------------------------------------
 * The XOR-gate network M (n_out x n_in over GF(2)) and FleXOR weights
 * ------------------------------------------------------------------------------------------------------- */

#define FX_MAX_NOUT 32
#define FX_MAX_Q 4

typedef enum fx_bwd_mode {
    FX_BWD_FLEXOR = 0, /* paper Eq. 6: S*(1-tanh^2(S x_i)) * prod_{j!=i} sign(x_j)                         */
    FX_BWD_STE = 1,    /* straight-through: sign' := 1                                                        */
    FX_BWD_ANALOG = 2  /* Eq. 3 differentiated: S*(1-tanh^2(S x_i)) * prod_{j!=i} tanh(S x_j)                  */
} fx_bwd_mode;

typedef struct fx_xornet {
    int n_out, n_in, n_tap, plane; /* n_tap = 0: random fill                                          */
    uint64_t seed;
    uint32_t mask[FX_MAX_NOUT];    /* row r: bit i set <=> M[r][i] = 1                                 */
    uint8_t taps[FX_MAX_NOUT];     /* popcount of mask[r]                                              */
} fx_xornet;

/* Generates M reproducibly (docs/CORE.md). Fails on 1 <= n_in <= n_out <= 32, 0 <= n_tap <= n_in broken. */
fx_status fx_xornet_init(fx_ctx *ctx, fx_xornet *net, int n_out, int n_in, int n_tap, uint64_t seed, int plane);

/* The configuration of one FleXOR layer's weight tensor. */
typedef struct fx_flexor_cfg {
    int n_out, n_in, n_tap, q;
    uint64_t seed;
} fx_flexor_cfg;

/* Shape of a FleXOR weight: c_out outputs, c_in inputs, k x k kernel (k = 0: dense, fan_in = c_in). */
typedef struct fx_flexor_geom {
    int c_out, c_in, k;
    int fan_in;     /* c_in*k*k, or c_in for dense                          */
    int64_t n;      /* c_out * fan_in weights                               */
    int64_t n_slices; /* ceil(n / n_out)                                    */
    int64_t n_lat;  /* latent floats per plane: n_slices * n_in             */
    fx_flexor_cfg cfg;
    fx_xornet net[FX_MAX_Q];
} fx_flexor_geom;

/* Validates cfg and the shape and builds the q XOR networks (plane p uses seed cfg.seed, plane p). */
fx_status fx_flexor_geom_init(fx_ctx *ctx, fx_flexor_geom *g, const fx_flexor_cfg *cfg, int c_out, int c_in, int k);

/* Bits per weight actually stored: q * n_slices * n_in / n (tail charged). */
double fx_flexor_bits_per_weight(const fx_flexor_geom *g);

/* Packs sign(x) of one plane: enc[j] bit i = (x[j*n_in + i] >= 0). x is (n_slices, n_in); enc is (n_slices). */
fx_status fx_flexor_pack(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, uint32_t *enc);

/* Decrypts packed encrypted words of one plane into decrypted words: dec[j] bit r = parity(enc[j] & mask[r]). */
fx_status fx_flexor_decrypt(fx_ctx *ctx, const fx_xornet *net, const uint32_t *enc, uint32_t *dec, int64_t n_slices);

/* Forward: latent x (q, n_lat) and alpha (q, c_out) -> float weights W (c_out, fan_in), OIHW.
 * bits, if not NULL, receives the decrypted words (q, n_slices) (bit r of word j = decrypted bit r). */
fx_status fx_flexor_weight_forward(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, const float *alpha,
                                   float *W, uint32_t *bits);

/* Same, from packed encrypted words enc (q, n_slices) instead of latent floats (the inference path). */
fx_status fx_flexor_weight_from_bits(fx_ctx *ctx, const fx_flexor_geom *g, const uint32_t *enc,
                                     const float *alpha, float *W);

/* The decrypted bits of one plane in the compute layout, packed for the lookup-table kernel:
 * bits (c_out, ceil(fan_in/4)) nibbles, bit t of [co][g] set <=> b(co, 4g+t) = +1 (OIHW order within a row). */
fx_status fx_flexor_plane_bits(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, int plane, uint8_t *bits);

/* Backward: dW (c_out, fan_in) -> dx (q, n_lat) and dalpha (q, c_out), accumulated. S is S_tanh. */
fx_status fx_flexor_weight_backward(fx_ctx *ctx, const fx_flexor_geom *g, fx_bwd_mode mode, float S,
                                    const float *x, const float *alpha, const float *dW, float *dx,
                                    float *dalpha);

/* Encryption of given float weights W (c_out, fan_in): for each plane, every slice gets the encrypted word
 * whose decrypted bits best match sign(W - fit so far) weighted by |W| (exhaustive search for n_in <= 10,
 * otherwise a seeded local search with restarts), and alpha the least-squares scale per output channel.
 * x (q, n_lat) is set to +-mag by those bits. Used to start FleXOR training from a full-precision model. */
fx_status fx_flexor_encrypt(fx_ctx *ctx, const fx_flexor_geom *g, const float *W, float mag, uint64_t seed, float *x,
                            float *alpha, float *W_work);

/* ---------------------------------------------------------------------------------------------------------
 * Layer kernels (NCHW). Forward writes outputs; backward accumulates into every non-NULL gradient.
 * Workspace sizes are given by the *_ws_floats functions; ws must be 64-byte aligned.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct fx_conv_shape {
    int n, c_in, h, w, c_out, k, stride, pad;
    int h_out, w_out; /* filled by fx_conv_shape_init */
} fx_conv_shape;

fx_status fx_conv_shape_init(fx_ctx *ctx, fx_conv_shape *s, int n, int c_in, int h, int w, int c_out, int k,
                             int stride, int pad);
size_t fx_conv2d_ws_floats(const fx_conv_shape *s);
/* y (n, c_out, h_out, w_out) = conv(x (n, c_in, h, w), w (c_out, c_in, k, k)) + b (c_out or NULL). */
fx_status fx_conv2d_forward(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, const float *w,
                            const float *b, float *ws);
/* Forward with binary-coded weights through the lookup-table kernels: q planes of +-1 weights packed by
 * fx_flexor_plane_bits (q, c_out, ceil(fan_in/4)), alpha (q, c_out), bias b (c_out or NULL), a residual res
 * shaped like y (or NULL) added before the activation, and a fused ReLU when relu != 0. With c_in >= 4 the
 * direct kernel (src/kernels/bcq_conv.c: tables per input pixel, no im2col) runs, else the im2col table
 * GEMM (src/kernels/bcq_lut.c). Same workspace as fx_conv2d_forward. fx_conv2d_bcq_fits() tells whether
 * the shape suits either kernel. */
int fx_conv2d_bcq_fits(const fx_conv_shape *s);
fx_status fx_conv2d_forward_bcq(fx_ctx *ctx, const fx_conv_shape *s, float *y, const float *x, int q,
                                const uint8_t *bits, const float *alpha, const float *b, const float *res, int relu,
                                float *ws);
/* dx (or NULL), dw (or NULL), db (or NULL) += from dy. */
fx_status fx_conv2d_backward(fx_ctx *ctx, const fx_conv_shape *s, float *dx, float *dw, float *db,
                             const float *dy, const float *x, const float *w, float *ws);

size_t fx_dense_ws_floats(void);
/* y (n, o) = x (n, i) W^T (W is (o, i)) + b (o or NULL). */
fx_status fx_dense_forward(fx_ctx *ctx, int n, int in, int out, float *y, const float *x, const float *w,
                           const float *b, float *ws);
fx_status fx_dense_backward(fx_ctx *ctx, int n, int in, int out, float *dx, float *dw, float *db,
                            const float *dy, const float *x, const float *w, float *ws);

/* Batch norm over (n, h*w) per channel. cache_mean/cache_rstd (c) are written in train mode for backward.
 * In train mode rm/rv are updated with momentum (docs/CORE.md); in eval mode they are used. */
#define FX_BN_EPS 1e-5f
#define FX_BN_MOMENTUM 0.1f
fx_status fx_bn_forward(fx_ctx *ctx, int n, int c, int hw, int train, float *y, const float *x,
                        const float *gamma, const float *beta, float *rm, float *rv, float *cache_mean,
                        float *cache_rstd);
/* Backward; uses the caches written by forward (in eval mode forward stores rm and 1/sqrt(rv+eps) there),
 * so the same call gives the train-mode gradient (train = 1) or the eval-mode affine map's (train = 0). */
fx_status fx_bn_backward(fx_ctx *ctx, int n, int c, int hw, int train, float *dx, float *dgamma, float *dbeta,
                         const float *dy, const float *x, const float *gamma, const float *cache_mean,
                         const float *cache_rstd);

fx_status fx_relu_forward(fx_ctx *ctx, int64_t len, float *y, const float *x);
/* dx += dy where y > 0 (y is the forward output). */
fx_status fx_relu_backward(fx_ctx *ctx, int64_t len, float *dx, const float *dy, const float *y);

/* Max pool, window k, stride s, no padding, floor. argmax (n*c*h_out*w_out int32) is written for backward. */
fx_status fx_maxpool_forward(fx_ctx *ctx, int n, int c, int h, int w, int k, int s, float *y, int32_t *argmax,
                             const float *x);
fx_status fx_maxpool_backward(fx_ctx *ctx, int n, int c, int h, int w, int k, int s, float *dx,
                              const float *dy, const int32_t *argmax);

fx_status fx_gap_forward(fx_ctx *ctx, int n, int c, int hw, float *y, const float *x);
fx_status fx_gap_backward(fx_ctx *ctx, int n, int c, int hw, float *dx, const float *dy);

/* Option-A shortcut: y = x[:, :, ::s, ::s], channels zero-padded (c_out - c_in)/2 on each side. */
fx_status fx_shortcut_forward(fx_ctx *ctx, int n, int c_in, int h, int w, int c_out, int s, float *y,
                              const float *x);
fx_status fx_shortcut_backward(fx_ctx *ctx, int n, int c_in, int h, int w, int c_out, int s, float *dx,
                               const float *dy);

/* Mean softmax cross-entropy. dz (n, k) is WRITTEN (not accumulated); loss may be NULL. */
fx_status fx_xent_forward_backward(fx_ctx *ctx, int n, int k, const float *z, const int32_t *labels,
                                   float *loss, float *dz);
/* (1-a)*CE(z, labels) + a*T^2*KL(softmax(t/T) || softmax(z/T)); dz WRITTEN. */
fx_status fx_distill_forward_backward(fx_ctx *ctx, int n, int k, const float *z, const float *t,
                                      const int32_t *labels, float T, float a, float *loss, float *dz);

/* ---------------------------------------------------------------------------------------------------------
 * Optimisers and schedules
 * ------------------------------------------------------------------------------------------------------- */

typedef enum fx_optim_kind { FX_OPT_SGD = 0, FX_OPT_ADAM = 1 } fx_optim_kind;

typedef struct fx_optim_cfg {
    fx_optim_kind kind;
    float momentum;    /* SGD */
    int nesterov;      /* SGD */
    float beta1, beta2, eps; /* Adam */
    float weight_decay;
} fx_optim_cfg;

/* One SGD step on n params (p, grad, momentum buffer buf). */
void fx_sgd_step(int64_t n, float *p, const float *grad, float *buf, float lr, float mom, float wd, int nesterov);
/* One Adam step; t is the 1-based step count. */
void fx_adam_step(int64_t n, float *p, const float *grad, float *m, float *v, float lr, float b1, float b2,
                  float eps, float wd, int64_t t);

typedef enum fx_sched_kind { FX_SCHED_CONST = 0, FX_SCHED_STEP = 1, FX_SCHED_COSINE = 2 } fx_sched_kind;

#define FX_MAX_MILESTONES 8
typedef struct fx_schedule {
    fx_sched_kind kind;
    float base_lr, warmup, epochs, gamma;
    int n_milestones;
    float milestones[FX_MAX_MILESTONES];
    float s_tanh, s_tanh0; /* S_tanh target and warmup start value */
} fx_schedule;

/* LR and S_tanh at fractional epoch e (docs/CORE.md "Schedules"). */
float fx_schedule_lr(const fx_schedule *s, double e);
float fx_schedule_stanh(const fx_schedule *s, double e);

/* ---------------------------------------------------------------------------------------------------------
 * Models: a small graph of layers (a DAG in topological order: every node reads earlier nodes) that owns
 * one arena for parameters, gradients, optimiser state and activations. Node 0 is the input.
 * ------------------------------------------------------------------------------------------------------- */

typedef enum fx_node_kind {
    FX_NODE_INPUT = 0, FX_NODE_CONV = 1, FX_NODE_DENSE = 2, FX_NODE_BN = 3, FX_NODE_RELU = 4,
    FX_NODE_MAXPOOL = 5, FX_NODE_GAP = 6, FX_NODE_SHORTCUT = 7, FX_NODE_ADD = 8
} fx_node_kind;

typedef enum fx_param_kind {
    FX_PARAM_W = 0,     /* full-precision weight (OIHW / [O][I])        */
    FX_PARAM_B = 1,     /* bias                                          */
    FX_PARAM_LAT = 2,   /* FleXOR latent encrypted values x (q, n_lat)   */
    FX_PARAM_ALPHA = 3, /* FleXOR scales (q, c_out)                      */
    FX_PARAM_GAMMA = 4, FX_PARAM_BETA = 5,
    FX_PARAM_RMEAN = 6, FX_PARAM_RVAR = 7 /* BN running stats: state, not trained */
} fx_param_kind;

typedef struct fx_model fx_model;

typedef struct fx_node_info {
    fx_node_kind kind;
    int in0, in1;              /* input node ids (-1 when unused)                     */
    int c, h, w;               /* output shape of one sample                           */
    int c_out, k, stride, pad, bias; /* conv / dense / pool / shortcut settings           */
    int flexor;                /* 1 when the weight is a FleXOR weight                 */
    const fx_flexor_geom *geom;/* its geometry (NULL otherwise)                        */
    int64_t macs;              /* multiply-adds per sample                             */
} fx_node_info;

typedef struct fx_param_info {
    const char *name;          /* "<node>.<kind>", e.g. "3.lat"                        */
    int node;
    fx_param_kind kind;
    int64_t len;
    float *data, *grad;        /* grad is NULL for running stats or inference models   */
    int trainable;
} fx_param_info;

/* A model whose input is one (c, h, w) sample. */
fx_status fx_model_new(fx_ctx *ctx, fx_model **out, int c, int h, int w);
void fx_model_free(fx_ctx *ctx, fx_model *m);

/* Graph building; each returns the new node id in *id. fx = NULL gives a full-precision weight. */
fx_status fx_model_conv(fx_ctx *ctx, fx_model *m, int in, int c_out, int k, int stride, int pad, int bias,
                        const fx_flexor_cfg *fx, int *id);
fx_status fx_model_dense(fx_ctx *ctx, fx_model *m, int in, int out, int bias, const fx_flexor_cfg *fx, int *id);
fx_status fx_model_bn(fx_ctx *ctx, fx_model *m, int in, int *id);
fx_status fx_model_relu(fx_ctx *ctx, fx_model *m, int in, int *id);
fx_status fx_model_maxpool(fx_ctx *ctx, fx_model *m, int in, int k, int s, int *id);
fx_status fx_model_gap(fx_ctx *ctx, fx_model *m, int in, int *id);
fx_status fx_model_shortcut(fx_ctx *ctx, fx_model *m, int in, int c_out, int s, int *id);
fx_status fx_model_add(fx_ctx *ctx, fx_model *m, int a, int b, int *id);

/* Threads used by forward and backward (native builds; 1 in WebAssembly). Call before fx_model_build.
 * Results depend only on the thread count: a fixed count gives bit-identical runs. */
fx_status fx_model_set_threads(fx_ctx *ctx, fx_model *m, int n);

/* Allocates the arena for batches of up to max_batch. training = 0 gives an inference-only model (no
 * gradients or optimiser state). The last node is the output (logits). */
fx_status fx_model_build(fx_ctx *ctx, fx_model *m, int max_batch, int training);

/* Initialises every parameter: Kaiming-normal FP weights, zero biases, BN (1, 0, 0, 1), latent values
 * N(0, lat_std^2), alpha = alpha_init, or sqrt(2/fan_in) (Kaiming scale) when alpha_init <= 0. */
fx_status fx_model_init_params(fx_ctx *ctx, fx_model *m, uint64_t seed, float alpha_init, float lat_std);

/* Backward mode and S_tanh used by every FleXOR layer. */
fx_status fx_model_set_flexor(fx_ctx *ctx, fx_model *m, fx_bwd_mode mode, float s_tanh);

/* Forward of n <= max_batch samples x (n, c, h, w). *logits (n, classes) stays valid until the next call. */
fx_status fx_model_forward(fx_ctx *ctx, fx_model *m, const float *x, int n, int train, const float **logits);

/* Loss of the last train-mode forward and the gradients of every parameter (zeroed first).
 * teacher = NULL: cross-entropy; else distillation with temperature T and weight a. */
fx_status fx_model_backward(fx_ctx *ctx, fx_model *m, const int32_t *labels, const float *teacher, float T,
                            float a, float *loss);

/* One optimiser step over every trainable parameter (optimiser state lives in the arena). */
fx_status fx_model_step(fx_ctx *ctx, fx_model *m, const fx_optim_cfg *opt, float lr);

int fx_model_node_count(const fx_model *m);
int fx_model_max_batch(const fx_model *m);
fx_status fx_model_node_info(fx_ctx *ctx, const fx_model *m, int id, fx_node_info *info);
int fx_model_param_count(const fx_model *m);
fx_status fx_model_param_info(fx_ctx *ctx, const fx_model *m, int i, fx_param_info *info);
/* The activations of node id from the last forward (n, c, h, w). */
fx_status fx_model_activation(fx_ctx *ctx, const fx_model *m, int id, const float **out);
/* The float weights of node id as used by the last forward (decrypted for FleXOR layers). */
fx_status fx_model_weights(fx_ctx *ctx, fx_model *m, int id, const float **w);
/* Eval-mode FleXOR convolutions compute from the packed +-1 bits with the lookup-table kernels (on, the
 * default: faster in WebAssembly and natively) or from decoded float weights (off). Both give the same
 * outputs up to float rounding. With the table kernels, a BN that directly follows such a conv is folded
 * into it, and what follows that BN is fused: a ReLU, or a residual ADD and a ReLU after it. In eval mode
 * only the last fused node's activation is then materialised (not the conv's, the BN's or the ADD's before
 * a fused ReLU); turn the kernels off to inspect those. In training (on), FleXOR convs run forward from the
 * bits and, with stride 1 and q = 1, take their input gradient from the flipped, transposed bits. */
fx_status fx_model_set_lut(fx_ctx *ctx, fx_model *m, int on);
/* Marks parameters as changed from outside (e.g. loaded), so cached decoded weights are rebuilt. */
void fx_model_touch(fx_model *m);

/* ---------------------------------------------------------------------------------------------------------
 * Model zoo (src/zoo.c)
 * ------------------------------------------------------------------------------------------------------- */

/* The paper's LeNet-5: 32C5-MP2-64C5-MP2-512FC-10 on 1x28x28, 'same' padding, ReLU, biases.
 * fx[i] (conv1, conv2, fc1, fc2) is the FleXOR configuration of layer i, or NULL for full precision;
 * fx itself may be NULL (all full precision). Built for max_batch; training as in fx_model_build. */
fx_status fx_model_lenet5(fx_ctx *ctx, fx_model **out, const fx_flexor_cfg *const fx[4], int max_batch, int training);

/* He et al. CIFAR ResNet-(6n+2) with option-A shortcuts: conv3x3(3->16)+BN+ReLU, three stages of n basic
 * blocks (16/32/64 channels), global average pool, dense 64->10. The first conv, the last dense layer and
 * BN stay full precision; every 3x3 conv of stage s is FleXOR with stage[s], or full precision when
 * stage == NULL or stage[s].q == 0. depth must be 6n+2 (20, 32, 44, 56, 110). */
fx_status fx_model_resnet_cifar(fx_ctx *ctx, fx_model **out, int depth, const fx_flexor_cfg stage[3], int max_batch,
                                int training);

/* ---------------------------------------------------------------------------------------------------------
 * Datasets (src/io/data.c): parsers of in-memory bytes, shared by every entry point
 * ------------------------------------------------------------------------------------------------------- */

/* IDX (MNIST) unsigned-byte file: validates magic, rank (1..4), dims and the exact byte length.
 * On success dims[0..ndim) are set and *data points into buf. */
fx_status fx_idx_parse(fx_ctx *ctx, const uint8_t *buf, size_t len, int *ndim, int dims[4], const uint8_t **data);

/* CIFAR-10 binary batch (records of 1 label byte + 3072 CHW pixel bytes): validates the length and labels;
 * copies n records into labels (n) and images (n, 3, 32, 32) when those are not NULL. */
fx_status fx_cifar_parse(fx_ctx *ctx, const uint8_t *buf, size_t len, int *n, uint8_t *labels, uint8_t *images);

/* A labelled image set in memory (caller-owned bytes) and how to turn it into network input. */
typedef struct fx_dataset {
    int n, c, h, w;
    const uint8_t *images; /* n * c*h*w bytes, CHW per image */
    const uint8_t *labels; /* n bytes */
    float mean[3], std[3]; /* per channel, on pixels scaled to [0, 1] */
    int augment;           /* 0: none; 1: random crop with 4-pixel zero padding + horizontal flip */
} fx_dataset;

/* Normalised (and, if ds->augment, augmented with rng) float images x (n, c, h, w) and int labels of
 * the samples idx[0..n). */
fx_status fx_dataset_batch(fx_ctx *ctx, const fx_dataset *ds, const int32_t *idx, int n, fx_rng *rng, float *x,
                           int32_t *labels);

/* A seeded permutation of 0..n-1 (Fisher-Yates with fx_rng). */
void fx_permutation(int32_t *perm, int n, uint64_t seed);

/* Eval-mode accuracy over ds (no augmentation) in batches of the model's max_batch; preds (ds->n) may be
 * NULL; correct receives the number of right top-1 predictions. */
fx_status fx_evaluate(fx_ctx *ctx, fx_model *m, const fx_dataset *ds, float *x_buf, int *correct, int32_t *preds);

/* ---------------------------------------------------------------------------------------------------------
 * Model files (src/io/modelfile.c, spec in docs/FORMAT.md)
 * ------------------------------------------------------------------------------------------------------- */

typedef enum fx_save_kind {
    FX_SAVE_INFERENCE = 0, /* FleXOR layers as packed sign bits only: the deployable model     */
    FX_SAVE_CHECKPOINT = 1 /* latent floats, optimiser state and step count: training resumes  */
} fx_save_kind;

/* Serialises m into a new buffer of *len bytes owned by ctx (free with fx_buffer_free). extra/extra_len
 * is an opaque blob stored with the file (e.g. trainer state); may be NULL/0. */
fx_status fx_model_save(fx_ctx *ctx, const fx_model *m, fx_save_kind kind, const void *extra, uint32_t extra_len,
                        uint8_t **buf, size_t *len);
void fx_buffer_free(fx_ctx *ctx, void *buf);

/* Validates every field of a model file and builds the model it describes for batches up to max_batch
 * (training = 1 needs a checkpoint; an inference file keeps only sign bits). extra, if not NULL,
 * points into buf at the stored blob (extra_len bytes). */
fx_status fx_model_load(fx_ctx *ctx, const uint8_t *buf, size_t len, int max_batch, int training, fx_model **out,
                        const uint8_t **extra, uint32_t *extra_len);

/* Starts m from src, a model of the same graph (e.g. the full-precision one): parameters of the same kind
 * and size are copied, and every FleXOR weight of m whose node holds a float weight in src is encrypted
 * from it (fx_flexor_encrypt; latent values +-mag). copied/encrypted (may be NULL) count what was done. */
fx_status fx_model_init_from(fx_ctx *ctx, fx_model *m, const fx_model *src, float mag, uint64_t seed, int *copied,
                             int *encrypted);

/* Optimiser steps taken (restored by checkpoints). */
int64_t fx_model_steps(const fx_model *m);

/* ---------------------------------------------------------------------------------------------------------
 * Training loop (src/train.c): one implementation for the native CLI, Node and the browser worker.
 * Deterministic: the permutation of epoch e is fx_permutation(n, seed*1000003 + e) and the augmentation
 * stream of global step t is seeded from (seed, t), so stopping and resuming at a step boundary gives
 * the same result as an uninterrupted run. The last partial batch of an epoch is dropped.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct fx_train_cfg {
    fx_schedule sched;   /* LR and S_tanh over (fractional) epochs; sched.epochs is the run length */
    fx_optim_cfg opt;
    fx_bwd_mode mode;
    int batch;           /* <= the model's max_batch */
    uint64_t seed;
    float T, kd;         /* distillation temperature and weight (used when a teacher is given) */
} fx_train_cfg;

typedef struct fx_train_stats {
    int epoch, step, steps_per_epoch; /* position after the call (step 0 of the next epoch at an end) */
    int epoch_done;                   /* the call finished an epoch                                    */
    int run_done;                     /* every epoch of the schedule is done                           */
    double loss_sum;                  /* over the samples of this call                                 */
    int seen, correct;                /* samples and right top-1 predictions in this call               */
    float lr, s_tanh;                 /* at the last step                                              */
} fx_train_stats;

typedef struct fx_trainer fx_trainer;

/* A trainer over model m (built for training) and the caller-owned dataset `train` (kept by pointer: it
 * must outlive the trainer). teacher (inference model, same input and classes) enables distillation. */
fx_status fx_trainer_new(fx_ctx *ctx, fx_trainer **out, fx_model *m, fx_model *teacher, const fx_dataset *train,
                         const fx_train_cfg *cfg);
void fx_trainer_free(fx_ctx *ctx, fx_trainer *tr);
/* Moves to (epoch, step), e.g. after loading a checkpoint. */
fx_status fx_trainer_seek(fx_ctx *ctx, fx_trainer *tr, int epoch, int step);
/* Runs up to max_steps optimiser steps, stopping early at the end of an epoch. */
fx_status fx_trainer_run(fx_ctx *ctx, fx_trainer *tr, int max_steps, fx_train_stats *st);

#ifdef __cplusplus
}
#endif
#endif
