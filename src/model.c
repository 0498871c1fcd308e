/*
 * model.c - layer graphs (LeNet-5, ResNet-20/32 and anything of the same parts) with one owned arena.
 *
 * Building is two-phase: fx_model_conv/dense/... record nodes and parameter shapes; fx_model_build sizes
 * and allocates one arena holding, in order, parameters, gradients, optimiser state (two buffers), and per
 * node activations, activation gradients, caches and the shared workspace. After that nothing allocates.
 */
#include "internal.h"
#include "kernels/gemm.h"
#include "threads.h"
#include <math.h>
#include <stdio.h>
#include <string.h>


typedef struct param {
    char name[24];
    int node;
    fx_param_kind kind;
    int64_t len;
    int trainable;
    float *data, *grad, *s1, *s2; /* s1/s2: momentum, or Adam m and v */
} param;

typedef struct node {
    fx_node_kind kind;
    int in0, in1;
    int c, h, w;                      /* output shape per sample */
    int c_out, k, stride, pad, bias;  /* settings */
    int flexor;
    fx_flexor_geom geom;
    int p_w, p_b, p_lat, p_alpha, p_gamma, p_beta, p_rm, p_rv;
    float *out, *dout;
    float *W;                         /* decoded FleXOR weights (c_out, fan_in) */
    uint8_t *bits;                    /* FleXOR conv: packed +-1 bits (q, c_out, ceil(fan_in/4)) for the LUT kernel */
    uint64_t bits_version;
    int32_t *offs;                    /* FleXOR conv: the direct LUT kernel's table offsets for `bits` (or NULL) */
    uint8_t *bits_t;                  /* training, q = 1, stride 1: flipped, transposed bits for dx (or NULL) */
    int32_t *offs_t;                  /* and their table offsets */
    float *Wt;                        /* training, FleXOR dense: W^T (fan_in, c_out), the slice order; dW is then dW^T */
    uint64_t wt_version;
    float *fold_alpha, *fold_bias;    /* eval: alpha and bias with the following BN folded in */
    int consumers;                    /* how many nodes read this node's output */
    float *dW;                        /* their gradient before the XOR backward (training) */
    float *cache_a, *cache_b;         /* BN mean / rstd */
    int32_t *argmax;                  /* max pool */
    uint64_t w_version;               /* params version W was decoded at (0 = never) */
} node;

struct fx_model {
    int n_nodes, n_params;
    node nodes[FX_MAX_NODES];
    param params[FX_MAX_PARAMS];
    int max_batch, training, built;
    int last_n, last_train;          /* the last forward */
    fx_bwd_mode mode;
    float s_tanh;
    int64_t t;                       /* optimiser steps taken */
    uint64_t version;                /* bumped whenever parameters change */
    float *arena;
    float *ws;                       /* n_threads workspaces of ws_floats each */
    size_t ws_floats;
    int n_threads;
    int lut;                         /* eval-mode FleXOR convs use the lookup-table kernel (default on) */
    fx_pool *pool;
    float *scratch;                  /* (n_threads - 1) private dW + db buffers for parallel backward */
    size_t scratch_floats;
    float *dlogits;
};

/* ---------------------------------------------------------------------------------------------------------
 * Graph building
 * ------------------------------------------------------------------------------------------------------- */

fx_status fx_model_new(fx_ctx *ctx, fx_model **out, int c, int h, int w) {
    static const char fn[] = "fx_model_new";
    FX_CHECK_PTR(ctx, fn, out);
    *out = NULL;
    FX_CHECK_POS(ctx, fn, c);
    FX_CHECK_POS(ctx, fn, h);
    FX_CHECK_POS(ctx, fn, w);
    fx_model *m = fx_alloc(ctx, sizeof *m, "the model");
    if (!m) return FX_ENOMEM;
    fx_gemm_init();
    node *in = &m->nodes[m->n_nodes++];
    in->kind = FX_NODE_INPUT;
    in->in0 = in->in1 = -1;
    in->c = c; in->h = h; in->w = w;
    m->mode = FX_BWD_FLEXOR;
    m->s_tanh = 10.0f;
    m->lut = 1; /* the table kernels beat the float GEMM in WebAssembly and natively (docs/PERFORMANCE.md) */
    m->version = 1;
    *out = m;
    return FX_OK;
}

void fx_model_free(fx_ctx *ctx, fx_model *m) {
    if (!m) return;
    fx_pool_free(m->pool);
    fx_free(ctx, m->arena);
    fx_free(ctx, m);
}

static fx_status new_node(fx_ctx *ctx, fx_model *m, const char *fn, fx_node_kind kind, int in, node **out) {
    if (!m) return fx_fail(ctx, FX_EINVAL, "%s: model is NULL", fn);
    if (m->built) return fx_fail(ctx, FX_ESTATE, "%s: the model is already built; add layers before fx_model_build", fn);
    if (m->n_nodes >= FX_MAX_NODES) return fx_fail(ctx, FX_EINVAL, "%s: more than %d layers", fn, FX_MAX_NODES);
    if (in < 0 || in >= m->n_nodes)
        return fx_fail(ctx, FX_EINVAL, "%s: input node %d does not exist (model has %d nodes)", fn, in, m->n_nodes);
    node *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->in0 = in;
    n->in1 = -1;
    n->p_w = n->p_b = n->p_lat = n->p_alpha = n->p_gamma = n->p_beta = n->p_rm = n->p_rv = -1;
    *out = n;
    return FX_OK;
}

static int add_param(fx_model *m, int node_id, fx_param_kind kind, int64_t len, int trainable) {
    static const char *names[] = {"w", "b", "lat", "alpha", "gamma", "beta", "rmean", "rvar"};
    param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%d.%s", node_id, names[kind]);
    p->node = node_id;
    p->kind = kind;
    p->len = len;
    p->trainable = trainable;
    return m->n_params++;
}

static fx_status weight_params(fx_ctx *ctx, fx_model *m, node *n, const char *fn, const fx_flexor_cfg *fx,
                               int c_in, int k) {
    if (m->n_params + 4 > FX_MAX_PARAMS) return fx_fail(ctx, FX_EINVAL, "%s: too many parameters", fn);
    int id = m->n_nodes;
    int64_t fan = (int64_t)c_in * (k ? k * k : 1);
    if (fx) {
        fx_status s = fx_flexor_geom_init(ctx, &n->geom, fx, n->c_out, c_in, k);
        if (s) return s;
        n->flexor = 1;
        n->p_lat = add_param(m, id, FX_PARAM_LAT, n->geom.n_lat * fx->q, 1);
        n->p_alpha = add_param(m, id, FX_PARAM_ALPHA, (int64_t)fx->q * n->c_out, 1);
    } else {
        n->p_w = add_param(m, id, FX_PARAM_W, fan * n->c_out, 1);
    }
    if (n->bias) n->p_b = add_param(m, id, FX_PARAM_B, n->c_out, 1);
    return FX_OK;
}

fx_status fx_model_conv(fx_ctx *ctx, fx_model *m, int in, int c_out, int k, int stride, int pad, int bias,
                        const fx_flexor_cfg *fx, int *id) {
    static const char fn[] = "fx_model_conv";
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, FX_NODE_CONV, in, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    const node *src = &m->nodes[in];
    fx_conv_shape cs;
    if ((s = fx_conv_shape_init(ctx, &cs, 1, src->c, src->h, src->w, c_out, k, stride, pad))) return s;
    n->c_out = c_out; n->k = k; n->stride = stride; n->pad = pad; n->bias = bias != 0;
    n->c = c_out; n->h = cs.h_out; n->w = cs.w_out;
    if ((s = weight_params(ctx, m, n, fn, fx, src->c, k))) return s;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_dense(fx_ctx *ctx, fx_model *m, int in, int out, int bias, const fx_flexor_cfg *fx, int *id) {
    static const char fn[] = "fx_model_dense";
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, FX_NODE_DENSE, in, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    FX_CHECK_POS(ctx, fn, out);
    const node *src = &m->nodes[in];
    n->c_out = out; n->bias = bias != 0;
    n->c = out; n->h = 1; n->w = 1;
    if ((s = weight_params(ctx, m, n, fn, fx, src->c * src->h * src->w, 0))) return s;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_bn(fx_ctx *ctx, fx_model *m, int in, int *id) {
    static const char fn[] = "fx_model_bn";
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, FX_NODE_BN, in, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    if (m->n_params + 4 > FX_MAX_PARAMS) return fx_fail(ctx, FX_EINVAL, "%s: too many parameters", fn);
    const node *src = &m->nodes[in];
    n->c = src->c; n->h = src->h; n->w = src->w;
    int me = m->n_nodes;
    n->p_gamma = add_param(m, me, FX_PARAM_GAMMA, n->c, 1);
    n->p_beta = add_param(m, me, FX_PARAM_BETA, n->c, 1);
    n->p_rm = add_param(m, me, FX_PARAM_RMEAN, n->c, 0);
    n->p_rv = add_param(m, me, FX_PARAM_RVAR, n->c, 0);
    *id = m->n_nodes++;
    return FX_OK;
}

static fx_status same_shape_node(fx_ctx *ctx, fx_model *m, const char *fn, fx_node_kind kind, int in, int *id) {
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, kind, in, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    n->c = m->nodes[in].c; n->h = m->nodes[in].h; n->w = m->nodes[in].w;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_relu(fx_ctx *ctx, fx_model *m, int in, int *id) {
    return same_shape_node(ctx, m, "fx_model_relu", FX_NODE_RELU, in, id);
}

fx_status fx_model_maxpool(fx_ctx *ctx, fx_model *m, int in, int k, int s, int *id) {
    static const char fn[] = "fx_model_maxpool";
    node *n = NULL;
    fx_status st = new_node(ctx, m, fn, FX_NODE_MAXPOOL, in, &n);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, id);
    FX_CHECK_POS(ctx, fn, k);
    FX_CHECK_POS(ctx, fn, s);
    const node *src = &m->nodes[in];
    if (src->h < k || src->w < k)
        return fx_fail(ctx, FX_ESHAPE, "%s: window %d does not fit the %dx%d input", fn, k, src->h, src->w);
    n->k = k; n->stride = s;
    n->c = src->c; n->h = (src->h - k) / s + 1; n->w = (src->w - k) / s + 1;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_gap(fx_ctx *ctx, fx_model *m, int in, int *id) {
    static const char fn[] = "fx_model_gap";
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, FX_NODE_GAP, in, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    n->c = m->nodes[in].c; n->h = 1; n->w = 1;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_shortcut(fx_ctx *ctx, fx_model *m, int in, int c_out, int s, int *id) {
    static const char fn[] = "fx_model_shortcut";
    node *n = NULL;
    fx_status st = new_node(ctx, m, fn, FX_NODE_SHORTCUT, in, &n);
    if (st) return st;
    FX_CHECK_PTR(ctx, fn, id);
    FX_CHECK_POS(ctx, fn, s);
    const node *src = &m->nodes[in];
    if (c_out < src->c || (c_out - src->c) % 2)
        return fx_fail(ctx, FX_ESHAPE, "%s: c_out - c_in must be even and >= 0 (c_in %d, c_out %d)", fn, src->c, c_out);
    n->c_out = c_out; n->stride = s;
    n->c = c_out; n->h = (src->h + s - 1) / s; n->w = (src->w + s - 1) / s;
    *id = m->n_nodes++;
    return FX_OK;
}

fx_status fx_model_add(fx_ctx *ctx, fx_model *m, int a, int b, int *id) {
    static const char fn[] = "fx_model_add";
    node *n = NULL;
    fx_status s = new_node(ctx, m, fn, FX_NODE_ADD, a, &n);
    if (s) return s;
    FX_CHECK_PTR(ctx, fn, id);
    if (b < 0 || b >= m->n_nodes) return fx_fail(ctx, FX_EINVAL, "%s: input node %d does not exist", fn, b);
    const node *na = &m->nodes[a], *nb = &m->nodes[b];
    if (na->c != nb->c || na->h != nb->h || na->w != nb->w)
        return fx_fail(ctx, FX_ESHAPE, "%s: cannot add %dx%dx%d (node %d) and %dx%dx%d (node %d)", fn, na->c,
                       na->h, na->w, a, nb->c, nb->h, nb->w, b);
    n->in1 = b;
    n->c = na->c; n->h = na->h; n->w = na->w;
    *id = m->n_nodes++;
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------------------------------------- */

static int64_t node_size(const node *n) { return (int64_t)n->c * n->h * n->w; }

/* The conv shape of a conv node for one sample. */
static fx_conv_shape conv_shape_of(const fx_model *m, const node *n) {
    const node *src = &m->nodes[n->in0 < 0 ? 0 : n->in0];
    fx_conv_shape cs = {1, src->c, src->h, src->w, n->c_out, n->k, n->stride, n->pad, n->h, n->w};
    return cs;
}

static size_t node_ws(const fx_model *m, const node *n) {
    if (n->kind == FX_NODE_CONV) {
        fx_conv_shape cs = conv_shape_of(m, n);
        return fx_conv2d_ws_floats(&cs);
    }
    if (n->kind == FX_NODE_DENSE) return fx_dense_ws_floats();
    return 0;
}

/* Walks the layout once to size it (base == NULL) or to carve it (base != NULL); returns floats used. */
static uint64_t layout(fx_model *m, float *base) {
    uint64_t off = 0;
#define CARVE(ptr, type, count) do { uint64_t c_ = ((uint64_t)(count) + 15) & ~(uint64_t)15; if (base) ptr = (type *)(base + off); off += c_; } while (0)
    for (int i = 0; i < m->n_params; i++) {
        param *p = &m->params[i];
        CARVE(p->data, float, p->len);
        if (m->training && p->trainable) {
            CARVE(p->grad, float, p->len);
            CARVE(p->s1, float, p->len);
            CARVE(p->s2, float, p->len);
        }
    }
    uint64_t ws = 0, wmax = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        node *n = &m->nodes[i];
        int64_t sz = node_size(n) * m->max_batch;
        CARVE(n->out, float, sz); /* the input node keeps a copy of the batch */
        if (m->training && i > 0) CARVE(n->dout, float, sz);
        if (n->flexor) CARVE(n->W, float, n->geom.n);
        if (n->flexor && n->kind == FX_NODE_CONV) {
            CARVE(n->bits, uint8_t, ((uint64_t)n->geom.cfg.q * n->c_out * ((n->geom.fan_in + 3) / 4) + 3) / 4);
            fx_conv_shape cs = conv_shape_of(m, n);
            uint64_t no = fx_conv2d_bcq_offsets_count(&cs, n->geom.cfg.q);
            if (no) CARVE(n->offs, int32_t, no);
            uint64_t nbt = m->training ? fx_conv2d_bcq_dx_bytes(&cs, n->geom.cfg.q) : 0;
            if (nbt) {
                CARVE(n->bits_t, uint8_t, (nbt + 3) / 4);
                CARVE(n->offs_t, int32_t, fx_conv2d_bcq_dx_offsets_count(&cs));
            }
            CARVE(n->fold_alpha, float, (uint64_t)n->geom.cfg.q * n->c_out);
            CARVE(n->fold_bias, float, n->c_out);
        }
        if (n->flexor && m->training) CARVE(n->dW, float, n->geom.n);
        if (n->flexor && m->training && n->kind == FX_NODE_DENSE) CARVE(n->Wt, float, n->geom.n);
        if (n->kind == FX_NODE_BN) { CARVE(n->cache_a, float, n->c); CARVE(n->cache_b, float, n->c); }
        if (n->kind == FX_NODE_MAXPOOL) CARVE(n->argmax, int32_t, sz);
        uint64_t w = node_ws(m, n);
        if (w > ws) ws = w;
        if (n->kind == FX_NODE_CONV || n->kind == FX_NODE_DENSE) {
            const node *src = &m->nodes[n->in0];
            uint64_t wn = n->kind == FX_NODE_CONV ? (uint64_t)n->c_out * src->c * n->k * n->k
                                                  : (uint64_t)n->c_out * (uint64_t)node_size(src);
            wn = ((wn + 15) & ~(uint64_t)15) + (((uint64_t)n->c_out + 15) & ~(uint64_t)15);
            if (wn > wmax) wmax = wn;
        }
    }
    ws = (ws + 15) & ~(uint64_t)15;
    CARVE(m->dlogits, float, node_size(&m->nodes[m->n_nodes - 1]) * m->max_batch);
    CARVE(m->ws, float, ws * (uint64_t)m->n_threads);
    m->ws_floats = (size_t)ws;
    if (m->training && m->n_threads > 1) CARVE(m->scratch, float, wmax * (uint64_t)(m->n_threads - 1));
    m->scratch_floats = (size_t)wmax;
#undef CARVE
    return off;
}

fx_status fx_model_set_threads(fx_ctx *ctx, fx_model *m, int n) {
    static const char fn[] = "fx_model_set_threads";
    FX_CHECK_PTR(ctx, fn, m);
    if (m->built) return fx_fail(ctx, FX_ESTATE, "%s: set the thread count before fx_model_build", fn);
    if (n < 1 || n > FX_MAX_THREADS) return fx_fail(ctx, FX_EINVAL, "%s: %d threads (1..%d)", fn, n, FX_MAX_THREADS);
    m->n_threads = fx_threads_available() ? n : 1;
    return FX_OK;
}

fx_status fx_model_build(fx_ctx *ctx, fx_model *m, int max_batch, int training) {
    static const char fn[] = "fx_model_build";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_POS(ctx, fn, max_batch);
    if (m->built) return fx_fail(ctx, FX_ESTATE, "%s: the model is already built", fn);
    if (m->n_nodes < 2) return fx_fail(ctx, FX_ESTATE, "%s: the model has no layers", fn);
    m->max_batch = max_batch;
    m->training = training != 0;
    if (m->n_threads < 1) m->n_threads = fx_threads_available() && ctx->threads > 1 ? ctx->threads : 1;
    if (m->n_threads > FX_MAX_THREADS) m->n_threads = FX_MAX_THREADS;
    uint64_t floats = layout(m, NULL);
    if (floats > (uint64_t)(SIZE_MAX / sizeof(float)) - 64)
        return fx_fail(ctx, FX_ENOMEM, "%s: the model arena of %llu floats (batch %d) exceeds this platform's address space",
                       fn, (unsigned long long)floats, max_batch);
    float *arena = fx_alloc(ctx, (size_t)floats * sizeof(float) + 64, "the model arena");
    if (!arena) return FX_ENOMEM;
    m->arena = arena;
    layout(m, arena);
    for (int i = 1; i < m->n_nodes; i++) {
        m->nodes[m->nodes[i].in0].consumers++;
        if (m->nodes[i].in1 >= 0) m->nodes[m->nodes[i].in1].consumers++;
    }
    if (m->n_threads > 1 && !(m->pool = fx_pool_new(m->n_threads))) m->n_threads = 1;
    m->built = 1;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind == FX_PARAM_RVAR || m->params[i].kind == FX_PARAM_GAMMA)
            for (int64_t j = 0; j < m->params[i].len; j++) m->params[i].data[j] = 1.0f;
    return FX_OK;
}

fx_status fx_model_init_params(fx_ctx *ctx, fx_model *m, uint64_t seed, float alpha_init, float lat_std) {
    static const char fn[] = "fx_model_init_params";
    FX_CHECK_PTR(ctx, fn, m);
    if (!m->built) return fx_fail(ctx, FX_ESTATE, "%s: call fx_model_build first", fn);
    fx_rng r;
    fx_rng_seed(&r, seed);
    for (int i = 0; i < m->n_params; i++) {
        param *p = &m->params[i];
        const node *n = &m->nodes[p->node];
        int fan = n->flexor ? n->geom.fan_in : (p->kind == FX_PARAM_W ? (int)(p->len / n->c_out) : 1);
        float he = sqrtf(2.0f / (float)fan);
        for (int64_t j = 0; j < p->len; j++) {
            float v = 0.0f;
            switch (p->kind) {
            case FX_PARAM_W: v = he * fx_rng_normal(&r); break;
            case FX_PARAM_LAT: v = lat_std * fx_rng_normal(&r); break;
            case FX_PARAM_ALPHA: v = alpha_init > 0.0f ? alpha_init : he; break;
            case FX_PARAM_GAMMA: case FX_PARAM_RVAR: v = 1.0f; break;
            default: v = 0.0f;
            }
            p->data[j] = v;
        }
    }
    m->t = 0;
    fx_model_touch(m);
    return FX_OK;
}

fx_status fx_model_set_flexor(fx_ctx *ctx, fx_model *m, fx_bwd_mode mode, float s_tanh) {
    static const char fn[] = "fx_model_set_flexor";
    FX_CHECK_PTR(ctx, fn, m);
    if (mode != FX_BWD_FLEXOR && mode != FX_BWD_STE && mode != FX_BWD_ANALOG)
        return fx_fail(ctx, FX_EINVAL, "%s: unknown backward mode %d (0 flexor, 1 ste, 2 analog)", fn, (int)mode);
    if (!(s_tanh > 0.0f) || !isfinite(s_tanh))
        return fx_fail(ctx, FX_EINVAL, "%s: S_tanh must be a finite number > 0 (got %g)", fn, (double)s_tanh);
    m->mode = mode;
    m->s_tanh = s_tanh;
    return FX_OK;
}

void fx_model_touch(fx_model *m) { if (m) m->version++; }

fx_status fx_model_set_lut(fx_ctx *ctx, fx_model *m, int on) {
    FX_CHECK_PTR(ctx, "fx_model_set_lut", m);
    m->lut = on != 0;
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Forward and backward
 * ------------------------------------------------------------------------------------------------------- */

static const float *P(const fx_model *m, int idx) { return idx >= 0 ? m->params[idx].data : NULL; }
static float *G(const fx_model *m, int idx) { return idx >= 0 ? m->params[idx].grad : NULL; }

/* The float weights of a conv/dense node, decoding FleXOR bits when the parameters changed. */
static fx_status node_weights(fx_ctx *ctx, fx_model *m, node *n, const float **w) {
    if (!n->flexor) { *w = P(m, n->p_w); return FX_OK; }
    if (n->w_version != m->version) {
        fx_status s = fx_flexor_weight_forward(ctx, &n->geom, P(m, n->p_lat), P(m, n->p_alpha), n->W, NULL);
        if (s) return s;
        n->w_version = m->version;
    }
    *w = n->W;
    return FX_OK;
}

/* Training, FleXOR dense: W^T decoded in slice order (cached per parameter version). */
static fx_status node_weights_t(fx_ctx *ctx, fx_model *m, node *n) {
    if (n->wt_version == m->version) return FX_OK;
    fx_status s = fx__flexor_weight_forward_t(ctx, &n->geom, P(m, n->p_lat), P(m, n->p_alpha), n->Wt);
    if (s) return s;
    n->wt_version = m->version;
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Conv and dense layers split over the batch: thread t takes samples [bs*t/T, bs*(t+1)/T) with its own
 * workspace; in backward, threads t > 0 accumulate dW/db privately and the caller adds them up in thread
 * order, so a given thread count always gives the same bits.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct par_job {
    fx_model *m;
    const node *n, *src;
    const float *in, *w, *b;
    float *din, *dw, *db;
    int bs, T, fwd, lut, relu;
    float *out;               /* forward output (the node's own buffer, or a fused successor's) */
    const float *alpha;       /* LUT: per-plane scales (possibly with BN folded in) */
    const float *res;         /* LUT: residual added before the activation (a fused ADD), or NULL */
    int dx_lut;               /* backward: dx from the transposed bits (n->bits_t), dw/db on the float path */
    int wt;                   /* dense: w is W^T and dw is dW^T */
    fx_status st[FX_MAX_THREADS];
} par_job;

static void layer_task(void *v, int t) {
    par_job *j = v;
    const node *n = j->n, *src = j->src;
    int lo = (int)((int64_t)j->bs * t / j->T), hi = (int)((int64_t)j->bs * (t + 1) / j->T);
    j->st[t] = FX_OK;
    if (lo >= hi) return;
    int64_t isz = node_size(src), osz = node_size(n);
    float *ws = j->m->ws + (size_t)t * j->m->ws_floats;
    const float *in = j->in + lo * isz;
    float *dw = j->dw, *db = j->db;
    if (!j->fwd && t > 0) {
        size_t wn = j->m->scratch_floats;
        dw = j->m->scratch + (size_t)(t - 1) * wn;
        memset(dw, 0, sizeof(float) * wn);
        db = j->db ? dw + (wn - (((size_t)n->c_out + 15) & ~(size_t)15)) : NULL;
    }
    if (n->kind == FX_NODE_CONV) {
        fx_conv_shape cs;
        j->st[t] = fx_conv_shape_init(NULL, &cs, hi - lo, src->c, src->h, src->w, n->c_out, n->k, n->stride, n->pad);
        if (j->st[t]) return;
        if (j->lut)
            j->st[t] = fx_conv2d_forward_bcq_offs(NULL, &cs, j->out + lo * osz, in, n->geom.cfg.q, n->bits, n->offs,
                                                  j->alpha, j->b, j->res ? j->res + lo * osz : NULL, j->relu, ws);
        else if (j->dx_lut) {
            j->st[t] = fx_conv2d_backward(NULL, &cs, NULL, dw, db, n->dout + lo * osz, in, NULL, ws);
            if (!j->st[t] && j->din)
                j->st[t] = fx_conv2d_backward_bcq_dx(NULL, &cs, j->din + lo * isz, n->dout + lo * osz,
                                                     j->m->params[n->p_alpha].data, n->bits_t, n->offs_t, ws);
        } else
            j->st[t] = j->fwd ? fx_conv2d_forward(NULL, &cs, n->out + lo * osz, in, j->w, j->b, ws)
                              : fx_conv2d_backward(NULL, &cs, j->din ? j->din + lo * isz : NULL, dw, db,
                                                   n->dout + lo * osz, in, j->w, ws);
    } else if (j->wt) {
        j->st[t] = j->fwd ? fx__dense_forward_t(NULL, hi - lo, (int)isz, n->c_out, n->out + lo * osz, in, j->w, j->b, ws)
                          : fx__dense_backward_t(NULL, hi - lo, (int)isz, n->c_out, j->din ? j->din + lo * isz : NULL,
                                                 dw, db, n->dout + lo * osz, in, j->w, ws);
    } else {
        j->st[t] = j->fwd ? fx_dense_forward(NULL, hi - lo, (int)isz, n->c_out, n->out + lo * osz, in, j->w, j->b, ws)
                          : fx_dense_backward(NULL, hi - lo, (int)isz, n->c_out, j->din ? j->din + lo * isz : NULL, dw,
                                              db, n->dout + lo * osz, in, j->w, ws);
    }
}

/* lut: 0 float path; 1 table kernel writing `out` with scales `alpha`, bias `bias`, residual `res` (or NULL)
 * and optional ReLU. */
static fx_status run_layer_ex(fx_ctx *ctx, fx_model *m, const node *n, int bs, int fwd, const float *w, float *dw,
                              float *din, int lut, float *out, const float *alpha, const float *bias,
                              const float *res, int relu) {
    par_job j;
    memset(&j, 0, sizeof j);
    /* lut = 1 means: conv forward from the bits, conv dx from the transposed bits, or dense with W^T */
    j.lut = fwd && lut && n->kind == FX_NODE_CONV;
    j.dx_lut = !fwd && lut && n->kind == FX_NODE_CONV;
    j.wt = lut && n->kind == FX_NODE_DENSE;
    j.res = res;
    j.out = out;
    j.alpha = alpha;
    j.relu = relu;
    j.m = m; j.n = n; j.src = &m->nodes[n->in0];
    j.in = j.src->out; j.w = w; j.b = P(m, n->p_b);
    j.din = din; j.dw = dw; j.db = G(m, n->p_b);
    if (j.lut) j.b = bias;
    j.bs = bs; j.fwd = fwd;
    j.T = m->n_threads < bs ? m->n_threads : bs;
    if (!fwd && j.T > 1 && !m->scratch) j.T = 1;
    fx_pool_run(m->pool, j.T, layer_task, &j);
    for (int t = 0; t < j.T; t++)
        if (j.st[t]) return fx_fail(ctx, j.st[t], "layer %d: a worker failed (%s)", (int)(n - m->nodes), fx_status_str(j.st[t]));
    if (!fwd) {
        int64_t wn = n->kind == FX_NODE_CONV ? (int64_t)n->c_out * j.src->c * n->k * n->k : (int64_t)n->c_out * node_size(j.src);
        for (int t = 1; t < j.T; t++) {
            const float *sw = m->scratch + (size_t)(t - 1) * m->scratch_floats;
            if (dw) for (int64_t i = 0; i < wn; i++) dw[i] += sw[i];
            const float *sb = sw + (m->scratch_floats - (((size_t)n->c_out + 15) & ~(size_t)15));
            if (j.db) for (int i = 0; i < n->c_out; i++) j.db[i] += sb[i];
        }
    }
    return FX_OK;
}

static int lut_fits(const fx_model *m, const node *n) {
    const node *src = &m->nodes[n->in0];
    fx_conv_shape cs = {1, src->c, src->h, src->w, n->c_out, n->k, n->stride, n->pad, n->h, n->w};
    return fx_conv2d_bcq_fits(&cs);
}

/* The packed +-1 bits of a FleXOR conv for the lookup-table kernel, rebuilt when the parameters changed. */
static fx_status node_bits(fx_ctx *ctx, fx_model *m, node *n) {
    if (n->bits_version == m->version) return FX_OK;
    int G = (n->geom.fan_in + 3) / 4;
    for (int p = 0; p < n->geom.cfg.q; p++) {
        fx_status s = fx_flexor_plane_bits(ctx, &n->geom, P(m, n->p_lat), p, n->bits + (size_t)p * n->c_out * G);
        if (s) return s;
    }
    fx_conv_shape cs = conv_shape_of(m, n);
    if (n->offs) fx_conv2d_bcq_offsets(&cs, n->geom.cfg.q, n->bits, n->offs);
    if (n->bits_t) fx_conv2d_bcq_dx_prepare(&cs, n->bits, n->bits_t, n->offs_t);
    n->bits_version = m->version;
    return FX_OK;
}

static fx_status run_layer(fx_ctx *ctx, fx_model *m, const node *n, int bs, int fwd, const float *w, float *dw,
                           float *din, int lut) {
    return run_layer_ex(ctx, m, n, bs, fwd, w, dw, din, lut, n->out, lut ? m->params[n->p_alpha].data : NULL,
                        P(m, n->p_b), NULL, 0);
}

/* Eval-mode FleXOR conv through the table kernel, with a directly following BN (sole consumer) folded into
 * alpha and bias, and what follows that BN fused into the epilogue: a ReLU, or a residual ADD optionally
 * followed by a ReLU. Returns how many following nodes it absorbed (0..3) in *absorbed; the last one's output
 * is written, the intermediate ones are not materialised. */
static fx_status fused_lut_conv(fx_ctx *ctx, fx_model *m, int id, int bs, int *absorbed) {
    node *n = &m->nodes[id];
    node *bn = id + 1 < m->n_nodes ? &m->nodes[id + 1] : NULL;
    node *relu = id + 2 < m->n_nodes ? &m->nodes[id + 2] : NULL;
    fx_status s = node_bits(ctx, m, n);
    if (s) return s;
    int q = n->geom.cfg.q, C = n->c_out;
    const float *alpha = P(m, n->p_alpha), *b = P(m, n->p_b);
    *absorbed = 0;
    if (!(bn && bn->kind == FX_NODE_BN && bn->in0 == id && n->consumers == 1))
        return run_layer_ex(ctx, m, n, bs, 1, NULL, NULL, NULL, 1, n->out, alpha, b, NULL, 0);
    const float *gamma = P(m, bn->p_gamma), *beta = P(m, bn->p_beta), *rm = P(m, bn->p_rm), *rv = P(m, bn->p_rv);
    for (int c = 0; c < C; c++) {
        float sc = gamma[c] / sqrtf(rv[c] + FX_BN_EPS);
        for (int p = 0; p < q; p++) n->fold_alpha[p * C + c] = alpha[p * C + c] * sc;
        n->fold_bias[c] = beta[c] - rm[c] * sc + (b ? b[c] * sc : 0.0f);
    }
    /* what follows the BN: a ReLU, or an ADD (residual) optionally followed by a ReLU */
    const float *res = NULL;
    node *last = bn;
    int k = id + 1;
    if (relu && relu->kind == FX_NODE_ADD && bn->consumers == 1 && (relu->in0 == k || relu->in1 == k)) {
        res = m->nodes[relu->in0 == k ? relu->in1 : relu->in0].out;
        last = relu;
        k = id + 2;
        relu = id + 3 < m->n_nodes ? &m->nodes[id + 3] : NULL;
    }
    int fuse_relu = relu && relu->kind == FX_NODE_RELU && relu->in0 == k && last->consumers == 1;
    if (fuse_relu) last = relu;
    *absorbed = (int)(last - n);
    return run_layer_ex(ctx, m, n, bs, 1, NULL, NULL, NULL, 1, last->out, n->fold_alpha, n->fold_bias, res, fuse_relu);
}

static fx_status forward_node(fx_ctx *ctx, fx_model *m, node *n, int bs, int train) {
    const node *src = &m->nodes[n->in0];
    const float *in = m->nodes[n->in0].out;
    int64_t len = node_size(n) * bs;
    const float *w;
    fx_status s = FX_OK;
    switch (n->kind) {
    case FX_NODE_CONV:
    case FX_NODE_DENSE:
        if (n->kind == FX_NODE_CONV && n->flexor && m->lut && lut_fits(m, n)) { /* from the bits (training) */
            if ((s = node_bits(ctx, m, n))) return s;
            return run_layer(ctx, m, n, bs, 1, NULL, NULL, NULL, 1);
        }
        if (n->Wt && train) { /* training, FleXOR dense: with W^T */
            if ((s = node_weights_t(ctx, m, n))) return s;
            return run_layer(ctx, m, n, bs, 1, n->Wt, NULL, NULL, 1);
        }
        if ((s = node_weights(ctx, m, n, &w))) return s;
        return run_layer(ctx, m, n, bs, 1, w, NULL, NULL, 0);
    case FX_NODE_BN:
        return fx_bn_forward(ctx, bs, n->c, n->h * n->w, train, n->out, in, P(m, n->p_gamma), P(m, n->p_beta),
                             m->params[n->p_rm].data, m->params[n->p_rv].data, n->cache_a, n->cache_b);
    case FX_NODE_RELU: return fx_relu_forward(ctx, len, n->out, in);
    case FX_NODE_MAXPOOL:
        return fx_maxpool_forward(ctx, bs, src->c, src->h, src->w, n->k, n->stride, n->out, n->argmax, in);
    case FX_NODE_GAP: return fx_gap_forward(ctx, bs, src->c, src->h * src->w, n->out, in);
    case FX_NODE_SHORTCUT:
        return fx_shortcut_forward(ctx, bs, src->c, src->h, src->w, n->c_out, n->stride, n->out, in);
    case FX_NODE_ADD: {
        const float *b = m->nodes[n->in1].out;
        for (int64_t i = 0; i < len; i++) n->out[i] = in[i] + b[i];
        return FX_OK;
    }
    default: return fx_fail(ctx, FX_ESTATE, "forward: bad node kind %d", (int)n->kind);
    }
}

fx_status fx_model_forward(fx_ctx *ctx, fx_model *m, const float *x, int n, int train, const float **logits) {
    static const char fn[] = "fx_model_forward";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, x);
    if (!m->built) return fx_fail(ctx, FX_ESTATE, "%s: call fx_model_build first", fn);
    if (n < 1 || n > m->max_batch)
        return fx_fail(ctx, FX_ESHAPE, "%s: batch of %d samples; this model was built for 1..%d", fn, n, m->max_batch);
    if (train && !m->training)
        return fx_fail(ctx, FX_ESTATE, "%s: train-mode forward on a model built for inference only", fn);
    const node *in = &m->nodes[0];
    int64_t in_len = (int64_t)in->c * in->h * in->w * n;
    for (int64_t i = 0; i < in_len; i++)
        if (!isfinite(x[i]))
            return fx_fail(ctx, FX_ENUMERIC, "%s: input value %lld (sample %lld) is %g", fn, (long long)i,
                           (long long)(i / (in_len / n)), (double)x[i]);
    memcpy(m->nodes[0].out, x, sizeof(float) * (size_t)in_len);
    for (int i = 1; i < m->n_nodes; i++) {
        node *nd = &m->nodes[i];
        fx_status s;
        if (!train && m->lut && nd->flexor && nd->kind == FX_NODE_CONV && lut_fits(m, nd)) {
            int absorbed = 0;
            if ((s = fused_lut_conv(ctx, m, i, n, &absorbed))) return s;
            i += absorbed;
            continue;
        }
        if ((s = forward_node(ctx, m, nd, n, train))) return s;
    }
    m->last_n = n;
    m->last_train = train;
    if (logits) *logits = m->nodes[m->n_nodes - 1].out;
    return FX_OK;
}

static fx_status backward_node(fx_ctx *ctx, fx_model *m, node *n, int bs) {
    const node *src = &m->nodes[n->in0];
    const float *in = m->nodes[n->in0].out;
    float *din = n->in0 > 0 ? m->nodes[n->in0].dout : NULL; /* no gradient for the input */
    int64_t len = node_size(n) * bs;
    fx_status s = FX_OK;
    switch (n->kind) {
    case FX_NODE_CONV:
    case FX_NODE_DENSE: {
        const float *w = NULL;
        float *dw = n->flexor ? n->dW : G(m, n->p_w);
        if (n->flexor) memset(dw, 0, sizeof(float) * (size_t)n->geom.n);
        if (n->bits_t && m->lut) { /* dx from the bits: no float weights needed */
            if ((s = node_bits(ctx, m, n))) return s;
            s = run_layer(ctx, m, n, bs, 0, NULL, dw, din, 1);
        } else if (n->Wt) { /* FleXOR dense: W^T and dW^T, both in slice order */
            if ((s = node_weights_t(ctx, m, n))) return s;
            s = run_layer(ctx, m, n, bs, 0, n->Wt, dw, din, 1);
            if (s) return s;
            return fx__flexor_weight_backward_t(ctx, &n->geom, m->mode, m->s_tanh, P(m, n->p_lat), P(m, n->p_alpha), dw,
                                                G(m, n->p_lat), G(m, n->p_alpha));
        } else {
            if ((s = node_weights(ctx, m, n, &w))) return s;
            s = run_layer(ctx, m, n, bs, 0, w, dw, din, 0);
        }
        if (s || !n->flexor) return s;
        return fx_flexor_weight_backward(ctx, &n->geom, m->mode, m->s_tanh, P(m, n->p_lat), P(m, n->p_alpha), dw,
                                         G(m, n->p_lat), G(m, n->p_alpha));
    }
    case FX_NODE_BN:
        return fx_bn_backward(ctx, bs, n->c, n->h * n->w, 1, din, G(m, n->p_gamma), G(m, n->p_beta), n->dout, in,
                              P(m, n->p_gamma), n->cache_a, n->cache_b);
    case FX_NODE_RELU: return din ? fx_relu_backward(ctx, len, din, n->dout, n->out) : FX_OK;
    case FX_NODE_MAXPOOL:
        return din ? fx_maxpool_backward(ctx, bs, src->c, src->h, src->w, n->k, n->stride, din, n->dout, n->argmax) : FX_OK;
    case FX_NODE_GAP: return din ? fx_gap_backward(ctx, bs, src->c, src->h * src->w, din, n->dout) : FX_OK;
    case FX_NODE_SHORTCUT:
        return din ? fx_shortcut_backward(ctx, bs, src->c, src->h, src->w, n->c_out, n->stride, din, n->dout) : FX_OK;
    case FX_NODE_ADD: {
        float *db = n->in1 > 0 ? m->nodes[n->in1].dout : NULL;
        for (int64_t i = 0; i < len; i++) {
            if (din) din[i] += n->dout[i];
            if (db) db[i] += n->dout[i];
        }
        return FX_OK;
    }
    default: return fx_fail(ctx, FX_ESTATE, "backward: bad node kind %d", (int)n->kind);
    }
}

fx_status fx_model_backward(fx_ctx *ctx, fx_model *m, const int32_t *labels, const float *teacher, float T,
                            float a, float *loss) {
    static const char fn[] = "fx_model_backward";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, labels);
    if (!m->training) return fx_fail(ctx, FX_ESTATE, "%s: the model was built for inference only", fn);
    if (!m->last_train || m->last_n < 1)
        return fx_fail(ctx, FX_ESTATE, "%s: no train-mode forward to differentiate (call fx_model_forward with train=1)", fn);
    int bs = m->last_n;
    node *last = &m->nodes[m->n_nodes - 1];
    int k = (int)node_size(last);
    const float *z = last->out;
    fx_status s = teacher ? fx_distill_forward_backward(ctx, bs, k, z, teacher, labels, T, a, loss, m->dlogits)
                          : fx_xent_forward_backward(ctx, bs, k, z, labels, loss, m->dlogits);
    if (s) return s;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].grad) memset(m->params[i].grad, 0, sizeof(float) * (size_t)m->params[i].len);
    for (int i = 1; i < m->n_nodes; i++) memset(m->nodes[i].dout, 0, sizeof(float) * (size_t)(node_size(&m->nodes[i]) * bs));
    memcpy(last->dout, m->dlogits, sizeof(float) * (size_t)k * bs);
    for (int i = m->n_nodes - 1; i >= 1; i--)
        if ((s = backward_node(ctx, m, &m->nodes[i], bs))) return s;
    m->last_train = 0; /* one backward per forward */
    return FX_OK;
}

fx_status fx_model_step(fx_ctx *ctx, fx_model *m, const fx_optim_cfg *opt, float lr) {
    static const char fn[] = "fx_model_step";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, opt);
    if (!m->training) return fx_fail(ctx, FX_ESTATE, "%s: the model was built for inference only", fn);
    if (!isfinite(lr) || lr < 0.0f) return fx_fail(ctx, FX_EINVAL, "%s: learning rate must be finite and >= 0 (got %g)", fn, (double)lr);
    for (int i = 0; i < m->n_params; i++) {
        const param *p = &m->params[i];
        if (!p->grad) continue;
        for (int64_t j = 0; j < p->len; j++)
            if (!isfinite(p->grad[j]))
                return fx_fail(ctx, FX_ENUMERIC, "%s: gradient of parameter %s[%lld] is %g; the step was not taken "
                               "(lower the learning rate or S_tanh)", fn, p->name, (long long)j, (double)p->grad[j]);
    }
    m->t++;
    for (int i = 0; i < m->n_params; i++) {
        param *p = &m->params[i];
        if (!p->grad) continue;
        if (opt->kind == FX_OPT_ADAM)
            fx_adam_step(p->len, p->data, p->grad, p->s1, p->s2, lr, opt->beta1, opt->beta2, opt->eps, opt->weight_decay, m->t);
        else
            fx_sgd_step(p->len, p->data, p->grad, p->s1, lr, opt->momentum, opt->weight_decay, opt->nesterov);
    }
    fx_model_touch(m);
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Introspection
 * ------------------------------------------------------------------------------------------------------- */

int fx_model_node_count(const fx_model *m) { return m ? m->n_nodes : 0; }
int fx_model_max_batch(const fx_model *m) { return m ? m->max_batch : 0; }
int64_t fx_model_steps(const fx_model *m) { return m ? m->t : 0; }
int fx_model_param_count(const fx_model *m) { return m ? m->n_params : 0; }

static int64_t node_macs(const fx_model *m, const node *n) {
    const node *src = n->in0 >= 0 ? &m->nodes[n->in0] : n;
    if (n->kind == FX_NODE_CONV) return (int64_t)n->c_out * n->h * n->w * src->c * n->k * n->k;
    if (n->kind == FX_NODE_DENSE) return (int64_t)n->c_out * node_size(src);
    return 0;
}

fx_status fx_model_node_info(fx_ctx *ctx, const fx_model *m, int id, fx_node_info *info) {
    static const char fn[] = "fx_model_node_info";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, info);
    if (id < 0 || id >= m->n_nodes) return fx_fail(ctx, FX_EINVAL, "%s: node %d does not exist (%d nodes)", fn, id, m->n_nodes);
    const node *n = &m->nodes[id];
    info->kind = n->kind; info->in0 = n->in0; info->in1 = n->in1;
    info->c = n->c; info->h = n->h; info->w = n->w;
    info->c_out = n->c_out; info->k = n->k; info->stride = n->stride; info->pad = n->pad; info->bias = n->bias;
    info->flexor = n->flexor;
    info->geom = n->flexor ? &n->geom : NULL;
    info->macs = node_macs(m, n);
    return FX_OK;
}

fx_status fx_model_param_info(fx_ctx *ctx, const fx_model *m, int i, fx_param_info *info) {
    static const char fn[] = "fx_model_param_info";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, info);
    if (i < 0 || i >= m->n_params) return fx_fail(ctx, FX_EINVAL, "%s: parameter %d does not exist (%d params)", fn, i, m->n_params);
    const param *p = &m->params[i];
    info->name = p->name; info->node = p->node; info->kind = p->kind; info->len = p->len;
    info->data = p->data; info->grad = p->grad; info->trainable = p->trainable;
    return FX_OK;
}

fx_status fx_model_activation(fx_ctx *ctx, const fx_model *m, int id, const float **out) {
    static const char fn[] = "fx_model_activation";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, out);
    if (id < 1 || id >= m->n_nodes) return fx_fail(ctx, FX_EINVAL, "%s: node %d has no activation (1..%d)", fn, id, m->n_nodes - 1);
    if (!m->built) return fx_fail(ctx, FX_ESTATE, "%s: call fx_model_build first", fn);
    *out = m->nodes[id].out;
    return FX_OK;
}

fx_status fx_model_weights(fx_ctx *ctx, fx_model *m, int id, const float **w) {
    static const char fn[] = "fx_model_weights";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, w);
    if (id < 1 || id >= m->n_nodes || (m->nodes[id].kind != FX_NODE_CONV && m->nodes[id].kind != FX_NODE_DENSE))
        return fx_fail(ctx, FX_EINVAL, "%s: node %d is not a conv or dense layer", fn, id);
    if (!m->built) return fx_fail(ctx, FX_ESTATE, "%s: call fx_model_build first", fn);
    return node_weights(ctx, m, &m->nodes[id], w);
}

/* ---------------------------------------------------------------------------------------------------------
 * For the model-file code (internal.h)
 * ------------------------------------------------------------------------------------------------------- */

void fx__param_state(const fx_model *m, int i, float **s1, float **s2) {
    *s1 = m->params[i].s1;
    *s2 = m->params[i].s2;
}

void fx__model_set_steps(fx_model *m, int64_t t) { m->t = t; }

/* ---------------------------------------------------------------------------------------------------------
 * Initialisation from another model
 * ------------------------------------------------------------------------------------------------------- */

fx_status fx_model_init_from(fx_ctx *ctx, fx_model *m, const fx_model *src, float mag, uint64_t seed, int *copied,
                             int *encrypted) {
    static const char fn[] = "fx_model_init_from";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, src);
    if (!m->built || !src->built) return fx_fail(ctx, FX_ESTATE, "%s: both models must be built", fn);
    if (!(mag > 0.0f) || !isfinite(mag)) return fx_fail(ctx, FX_EINVAL, "%s: mag must be > 0 (got %g)", fn, (double)mag);
    if (src->n_nodes != m->n_nodes)
        return fx_fail(ctx, FX_ESHAPE, "%s: the source has %d nodes, the model %d: not the same architecture", fn,
                       src->n_nodes, m->n_nodes);
    for (int i = 1; i < m->n_nodes; i++) {
        const node *a = &m->nodes[i], *b = &src->nodes[i];
        if (a->kind != b->kind || a->in0 != b->in0 || a->in1 != b->in1 || a->c != b->c || a->h != b->h || a->w != b->w)
            return fx_fail(ctx, FX_ESHAPE, "%s: node %d differs between the source and the model", fn, i);
    }
    int nc = 0, ne = 0;
    for (int i = 0; i < m->n_params; i++) {
        param *p = &m->params[i];
        for (int j = 0; j < src->n_params; j++) {
            const param *s = &src->params[j];
            if (s->node != p->node) continue;
            if (s->kind == p->kind && s->len == p->len) {
                memcpy(p->data, s->data, sizeof(float) * (size_t)p->len);
                nc++;
            } else if (p->kind == FX_PARAM_LAT && s->kind == FX_PARAM_W) {
                node *n = &m->nodes[p->node];
                float *work = fx_alloc(ctx, sizeof(float) * (size_t)s->len, "the encryption workspace");
                if (!work) return FX_ENOMEM;
                fx_status st = fx_flexor_encrypt(ctx, &n->geom, s->data, mag, seed + (uint64_t)i, p->data,
                                                 m->params[n->p_alpha].data, work);
                fx_free(ctx, work);
                if (st) return st;
                ne++;
            }
        }
    }
    fx_model_touch(m);
    if (copied) *copied = nc;
    if (encrypted) *encrypted = ne;
    return FX_OK;
}
