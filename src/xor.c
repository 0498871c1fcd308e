/*
 * xor.c - the XOR-gate network M and FleXOR weights: mask generation, packing, bit-exact decryption, the
 * float weight it produces, and the three backward modes (paper Eq. 6 "FleXOR", STE, "analog XOR").
 *
 * Slicing (paper Algorithm 1, docs/CORE.md): weights are taken in TensorFlow order [K][K][C_in][C_out]
 * (dense [I][O]); slice j holds flat indices j*n_out .. j*n_out+n_out-1 as decrypted bits 0..n_out-1. The
 * tail of the last slice is decrypted and dropped. The compute layout of W is OIHW (dense [O][I]).
 */
#include "internal.h"
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------------
 * M generation
 * ------------------------------------------------------------------------------------------------------- */

static uint32_t low_bits(int n) { return n >= 32 ? 0xFFFFFFFFu : ((1u << n) - 1u); }

fx_status fx_xornet_init(fx_ctx *ctx, fx_xornet *net, int n_out, int n_in, int n_tap, uint64_t seed, int plane) {
    static const char fn[] = "fx_xornet_init";
    FX_CHECK_PTR(ctx, fn, net);
    if (n_out < 1 || n_out > FX_MAX_NOUT)
        return fx_fail(ctx, FX_EINVAL, "%s: n_out must be in 1..%d (got %d)", fn, FX_MAX_NOUT, n_out);
    if (n_in < 1 || n_in > n_out)
        return fx_fail(ctx, FX_EINVAL, "%s: n_in must be in 1..n_out=%d (got n_in=%d): an XOR network "
                       "cannot have more encrypted than decrypted bits", fn, n_out, n_in);
    if (n_tap < 0 || n_tap > n_in)
        return fx_fail(ctx, FX_EINVAL, "%s: n_tap must be in 0..n_in=%d (got n_tap=%d; 0 means random fill)",
                       fn, n_in, n_tap);
    if (plane < 0 || plane >= FX_MAX_Q)
        return fx_fail(ctx, FX_EINVAL, "%s: plane must be in 0..%d (got %d)", fn, FX_MAX_Q - 1, plane);
    memset(net, 0, sizeof *net);
    net->n_out = n_out; net->n_in = n_in; net->n_tap = n_tap; net->seed = seed; net->plane = plane;
    fx_rng r;
    fx_rng_seed(&r, seed + 0x632BE59BD9B4E019ull * (uint64_t)(plane + 1));
    for (int row = 0; row < n_out; row++) {
        uint32_t m = 0;
        if (n_tap > 0) {
            int a[32];
            for (int i = 0; i < n_in; i++) a[i] = i;
            for (int k = 0; k < n_tap; k++) {
                int j = k + (int)fx_rng_below(&r, (uint32_t)(n_in - k));
                int t = a[k]; a[k] = a[j]; a[j] = t;
                m |= 1u << a[k];
            }
        } else {
            do m = fx_rng_u32(&r) & low_bits(n_in); while (m == 0);
        }
        net->mask[row] = m;
        net->taps[row] = (uint8_t)fx_popcount32(m);
    }
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Geometry
 * ------------------------------------------------------------------------------------------------------- */

fx_status fx_flexor_geom_init(fx_ctx *ctx, fx_flexor_geom *g, const fx_flexor_cfg *cfg, int c_out, int c_in, int k) {
    static const char fn[] = "fx_flexor_geom_init";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, cfg);
    FX_CHECK_POS(ctx, fn, c_out);
    FX_CHECK_POS(ctx, fn, c_in);
    if (k < 0) return fx_fail(ctx, FX_ESHAPE, "%s: k must be >= 0 (0 = dense), got %d", fn, k);
    if (cfg->q < 1 || cfg->q > FX_MAX_Q)
        return fx_fail(ctx, FX_EINVAL, "%s: q (bit planes) must be in 1..%d (got %d)", fn, FX_MAX_Q, cfg->q);
    memset(g, 0, sizeof *g);
    g->c_out = c_out; g->c_in = c_in; g->k = k;
    int64_t fan = (int64_t)c_in * (k ? (int64_t)k * k : 1);
    if (fan > 0x7FFFFFFF || fan * c_out > ((int64_t)1 << 40))
        return fx_fail(ctx, FX_ESHAPE, "%s: weight tensor %d x %lld is too large", fn, c_out, (long long)fan);
    g->fan_in = (int)fan;
    g->n = fan * c_out;
    g->cfg = *cfg;
    for (int p = 0; p < cfg->q; p++) {
        fx_status s = fx_xornet_init(ctx, &g->net[p], cfg->n_out, cfg->n_in, cfg->n_tap, cfg->seed, p);
        if (s) return s;
    }
    g->n_slices = (g->n + cfg->n_out - 1) / cfg->n_out;
    g->n_lat = g->n_slices * cfg->n_in;
    return FX_OK;
}

double fx_flexor_bits_per_weight(const fx_flexor_geom *g) {
    return (double)g->cfg.q * (double)g->n_slices * g->cfg.n_in / (double)g->n;
}

/* ---------------------------------------------------------------------------------------------------------
 * Packing and decryption
 * ------------------------------------------------------------------------------------------------------- */

static uint32_t pack_slice(const float *x, int n_in) {
    uint32_t e = 0;
    for (int i = 0; i < n_in; i++) e |= (uint32_t)(x[i] >= 0.0f) << i;
    return e;
}

static uint32_t decrypt_word(const fx_xornet *net, uint32_t e) {
    uint32_t d = 0;
    for (int r = 0; r < net->n_out; r++) d |= (uint32_t)fx_parity32(e & net->mask[r]) << r;
    return d;
}

fx_status fx_flexor_pack(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, uint32_t *enc) {
    FX_CHECK_PTR(ctx, "fx_flexor_pack", g);
    FX_CHECK_PTR(ctx, "fx_flexor_pack", x);
    FX_CHECK_PTR(ctx, "fx_flexor_pack", enc);
    for (int64_t j = 0; j < g->n_slices; j++) enc[j] = pack_slice(x + j * g->cfg.n_in, g->cfg.n_in);
    return FX_OK;
}

fx_status fx_flexor_decrypt(fx_ctx *ctx, const fx_xornet *net, const uint32_t *enc, uint32_t *dec, int64_t n_slices) {
    FX_CHECK_PTR(ctx, "fx_flexor_decrypt", net);
    FX_CHECK_PTR(ctx, "fx_flexor_decrypt", enc);
    FX_CHECK_PTR(ctx, "fx_flexor_decrypt", dec);
    for (int64_t j = 0; j < n_slices; j++) dec[j] = decrypt_word(net, enc[j]);
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Walking the slice order. A cursor maps slice-order index f to the OIHW index and output channel,
 * incrementally (no divisions in the inner loops).
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int co, ci, kk, c_out, c_in, kk_n, fan_in; } walk;

static walk walk_start(const fx_flexor_geom *g) {
    walk w = {0, 0, 0, g->c_out, g->c_in, g->k ? g->k * g->k : 1, g->fan_in};
    return w;
}
static inline int64_t walk_index(const walk *w) { return (int64_t)w->co * w->fan_in + (int64_t)w->ci * w->kk_n + w->kk; }
static inline void walk_next(walk *w) {
    if (++w->co < w->c_out) return;
    w->co = 0;
    if (++w->ci < w->c_in) return;
    w->ci = 0;
    w->kk++;
}

/* Adds alpha * (+-1) of the decrypted word d of one slice into W, advancing the cursor and f. */
static void add_slice(const fx_flexor_geom *g, walk *w, int64_t *f, uint32_t d, const float *ap, float *W) {
    for (int r = 0; r < g->cfg.n_out && *f < g->n; r++, (*f)++) {
        float a = ap[w->co];
        W[walk_index(w)] += ((d >> r) & 1u) ? a : -a;
        walk_next(w);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Chunked slice-order <-> OIHW movement. The slice order is the matrix S (rows r = kk*C_in + ci, C_out
 * columns) whose row r is OIHW column col(r) = ci*KK + kk. Walking W in slice order touches one float per
 * cache line (stride fan_in); instead, CHUNK floats of S are produced or consumed in order in a small buffer
 * and moved to/from W column-block-wise.
 * ------------------------------------------------------------------------------------------------------- */

#define CHUNK 2048

/* 4 weights at a time where the slice rows and the output channels both come in whole vectors (n_out and
 * c_out multiples of 4, which keeps every group of 4 inside one slice and one channel run): a nibble of the
 * decrypted word selects a vector of +-1 signs. Multiplying by +-1 is exact, so both loops below give the
 * same bits as their scalar form. GCC/Clang vectors: SSE natively, SIMD128 in WebAssembly. */
typedef float v4f __attribute__((vector_size(16), aligned(4)));
static inline v4f ld4(const float *p) { v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void st4(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static const float SIGN4[16][4] = {
    {-1, -1, -1, -1}, {1, -1, -1, -1}, {-1, 1, -1, -1}, {1, 1, -1, -1}, {-1, -1, 1, -1}, {1, -1, 1, -1},
    {-1, 1, 1, -1},   {1, 1, 1, -1},   {-1, -1, -1, 1}, {1, -1, -1, 1}, {-1, 1, -1, 1},  {1, 1, -1, 1},
    {-1, -1, 1, 1},   {1, -1, 1, 1},   {-1, 1, 1, 1},   {1, 1, 1, 1}};
static int vec4_ok(const fx_flexor_geom *g) { return g->c_out % 4 == 0 && g->cfg.n_out % 4 == 0; }

static int64_t row_col(const fx_flexor_geom *g, int64_t r) {
    int kkn = g->k ? g->k * g->k : 1;
    return (r % g->c_in) * kkn + r / g->c_in;
}

/* W[co][col(r)] += buf[(r - r0)*C_out + co] for rows r0..r1-1. */
static void scatter_rows(const fx_flexor_geom *g, int64_t r0, int64_t r1, const float *buf, float *W) {
    int C = g->c_out;
    int32_t cols[CHUNK];
    for (int64_t r = r0; r < r1; r++) cols[r - r0] = (int32_t)row_col(g, r);
    for (int co = 0; co < C; co++) {
        float *wr = W + (int64_t)co * g->fan_in;
        for (int64_t r = r0; r < r1; r++) wr[cols[r - r0]] += buf[(r - r0) * C + co];
    }
}

/* buf[(r - r0)*C_out + co] = dW[co][col(r)] for rows r0..r1-1. */
static void gather_rows(const fx_flexor_geom *g, int64_t r0, int64_t r1, const float *dW, float *buf) {
    int C = g->c_out;
    int32_t cols[CHUNK];
    for (int64_t r = r0; r < r1; r++) cols[r - r0] = (int32_t)row_col(g, r);
    for (int co = 0; co < C; co++) {
        const float *wr = dW + (int64_t)co * g->fan_in;
        for (int64_t r = r0; r < r1; r++) buf[(r - r0) * C + co] = wr[cols[r - r0]];
    }
}

/* One plane of the forward decode, chunked (needs c_out <= CHUNK). sliced: W is in slice order itself (W^T
 * of a dense layer), written (plane 0) or added to (planes > 0) in order, without the scatter. */
static void forward_plane_chunked(const fx_flexor_geom *g, int p, const float *xp, const float *ap, float *W,
                                  uint32_t *bits, int sliced) {
    float tmp[CHUNK];
    int C = g->c_out, n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    int64_t R = g->fan_in, RB = sliced ? R : CHUNK / C, j = 0;
    int r = 0;
    uint32_t d = decrypt_word(&g->net[p], pack_slice(xp, n_in));
    if (bits) bits[0] = d;
    for (int64_t r0 = 0; r0 < R; r0 += RB) {
        int64_t r1 = r0 + RB < R ? r0 + RB : R, cnt = (r1 - r0) * C;
        float *buf = sliced ? W + r0 * C : tmp;
        int co = 0, add = sliced && p > 0;
        if (vec4_ok(g)) {
            for (int64_t e = 0; e < cnt; e += 4) {
                v4f v = ld4(ap + co) * ld4(SIGN4[(d >> r) & 15u]);
                st4(buf + e, add ? ld4(buf + e) + v : v);
                if ((co += 4) == C) co = 0;
                if ((r += 4) == n_out) {
                    r = 0;
                    if (++j < g->n_slices) {
                        d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
                        if (bits) bits[j] = d;
                    }
                }
            }
            if (!sliced) scatter_rows(g, r0, r1, buf, W);
            continue;
        }
        for (int64_t e = 0; e < cnt; e++) {
            float v = ((d >> r) & 1u) ? ap[co] : -ap[co];
            buf[e] = add ? buf[e] + v : v;
            if (++co == C) co = 0;
            if (++r == n_out) {
                r = 0;
                if (++j < g->n_slices) {
                    d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
                    if (bits) bits[j] = d;
                }
            }
        }
        if (!sliced) scatter_rows(g, r0, r1, buf, W);
    }
}

fx_status fx_flexor_weight_forward(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, const float *alpha,
                                   float *W, uint32_t *bits) {
    static const char fn[] = "fx_flexor_weight_forward";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, W);
    memset(W, 0, (size_t)g->n * sizeof(float));
    for (int p = 0; p < g->cfg.q; p++) {
        const float *xp = x + p * g->n_lat;
        if (g->c_out <= CHUNK) {
            forward_plane_chunked(g, p, xp, alpha + (int64_t)p * g->c_out, W, bits ? bits + p * g->n_slices : NULL, 0);
            continue;
        }
        walk w = walk_start(g);
        int64_t f = 0;
        for (int64_t j = 0; j < g->n_slices; j++) {
            uint32_t d = decrypt_word(&g->net[p], pack_slice(xp + j * g->cfg.n_in, g->cfg.n_in));
            if (bits) bits[p * g->n_slices + j] = d;
            add_slice(g, &w, &f, d, alpha + (int64_t)p * g->c_out, W);
        }
    }
    return FX_OK;
}

fx_status fx__flexor_weight_forward_t(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, const float *alpha,
                                     float *Wt) {
    static const char fn[] = "fx__flexor_weight_forward_t";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, Wt);
    if (g->k != 0) return fx_fail(ctx, FX_EUNSUPPORTED, "%s: dense geometries only (k = 0)", fn);
    for (int p = 0; p < g->cfg.q; p++)
        forward_plane_chunked(g, p, x + p * g->n_lat, alpha + (int64_t)p * g->c_out, Wt, NULL, 1);
    return FX_OK;
}

fx_status fx_flexor_weight_from_bits(fx_ctx *ctx, const fx_flexor_geom *g, const uint32_t *enc,
                                     const float *alpha, float *W) {
    static const char fn[] = "fx_flexor_weight_from_bits";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, enc);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, W);
    memset(W, 0, (size_t)g->n * sizeof(float));
    for (int p = 0; p < g->cfg.q; p++) {
        walk w = walk_start(g);
        int64_t f = 0;
        for (int64_t j = 0; j < g->n_slices; j++)
            add_slice(g, &w, &f, decrypt_word(&g->net[p], enc[p * g->n_slices + j]), alpha + (int64_t)p * g->c_out, W);
    }
    return FX_OK;
}

fx_status fx_flexor_plane_bits(fx_ctx *ctx, const fx_flexor_geom *g, const float *x, int plane, uint8_t *bits) {
    static const char fn[] = "fx_flexor_plane_bits";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, bits);
    if (plane < 0 || plane >= g->cfg.q) return fx_fail(ctx, FX_EINVAL, "%s: plane %d of %d", fn, plane, g->cfg.q);
    int G = (g->fan_in + 3) / 4, n_in = g->cfg.n_in;
    memset(bits, 0, (size_t)g->c_out * G);
    const float *xp = x + plane * g->n_lat;
    walk w = walk_start(g);
    int64_t f = 0;
    for (int64_t j = 0; j < g->n_slices; j++) {
        uint32_t d = decrypt_word(&g->net[plane], pack_slice(xp + j * n_in, n_in));
        for (int r = 0; r < g->cfg.n_out && f < g->n; r++, f++) {
            int k = (int)(walk_index(&w) - (int64_t)w.co * g->fan_in);
            bits[(size_t)w.co * G + (k >> 2)] |= (uint8_t)(((d >> r) & 1u) << (k & 3));
            walk_next(&w);
        }
    }
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Backward
 * ------------------------------------------------------------------------------------------------------- */

/* e^x for x in [-20, 0], 4 lanes: x = n ln2 + r with |r| <= ln2/2 (n rounded with the 1.5 * 2^23 trick, ln2
 * split in two for an exact n ln2), e^r by its degree-6 Taylor polynomial (relative error < 2e-7), 2^n from
 * the exponent bits. */
typedef int32_t v4s __attribute__((vector_size(16)));
static inline v4f exp_neg4(v4f x) {
    v4f t = x * 1.44269504f;
    v4f n = (t + 12582912.0f) - 12582912.0f;
    v4f r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    v4f p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    v4s e = (__builtin_convertvector(n, v4s) + 127) << 23;
    return p * (v4f)e;
}

/* dL/dx for one slice. b[r] = +-1 decrypted bits, gr[r] = dL/db_r, valid rows 0..nr-1. */
static void slice_backward(const fx_xornet *net, fx_bwd_mode mode, float S, const float *x, const float *b,
                           const float *gr, int nr, float *dx) {
    int n_in = net->n_in;
    float t[32], fac[32];
    if (mode == FX_BWD_ANALOG) {
        /* |z| > 10: tanhf is exactly +-1 in float (glibc and musl alike), so skipping it changes nothing */
        for (int i = 0; i < n_in; i++) {
            float z = S * x[i];
            t[i] = z > 10.0f ? 1.0f : z < -10.0f ? -1.0f : tanhf(z);
        }
        for (int r = 0; r < nr; r++) {
            uint32_t m = net->mask[r];
            float sgn0 = (net->taps[r] & 1) ? 1.0f : -1.0f; /* (-1)^(n_r - 1) */
            for (int i = 0; i < n_in; i++) {
                if (!((m >> i) & 1u)) continue;
                float prod = sgn0;
                for (int k = 0; k < n_in; k++)
                    if (k != i && ((m >> k) & 1u)) prod *= t[k];
                dx[i] += S * (1.0f - t[i] * t[i]) * gr[r] * prod;
            }
        }
        return;
    }
    if (mode == FX_BWD_FLEXOR) {
        /* S (1 - tanh^2(z)) = S sech^2(z) = S 4u / (1 + u)^2 with u = e^(-2|z|): no cancellation near |t| = 1,
         * and 4 lanes at a time. Exactly 0 where |z| > 10 (as 1 - tanhf^2 is in float there); a slice whose
         * latents are all there gets exact zeros without the rest. */
        float xs[32] = {0};
        memcpy(xs, x, sizeof(float) * (size_t)n_in);
        v4s live = {0, 0, 0, 0};
        const v4s absm = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
        const v4f ten = {10.0f, 10.0f, 10.0f, 10.0f}, zero = {0, 0, 0, 0};
        for (int i = 0; i < n_in; i += 4) {
            v4f az = (v4f)((v4s)(ld4(xs + i) * S) & absm);
            v4s in = az <= ten;                                  /* lanes with |z| <= 10: all ones */
            v4f zc = (v4f)(((v4s)az & in) | ((v4s)ten & ~in));  /* min(|z|, 10) */
            v4f u = exp_neg4(-2.0f * zc), v = 1.0f + u;
            v4f f = (S * 4.0f) * u / (v * v);
            st4(fac + i, (v4f)((v4s)f & in) + zero);
            live |= in;
        }
        if (!(live[0] | live[1] | live[2] | live[3])) return;
    } else {
        for (int i = 0; i < n_in; i++) fac[i] = 1.0f; /* STE */
    }
    float acc[32] = {0};
    for (int r = 0; r < nr; r++) {
        float c = b[r] * gr[r];
        uint32_t m = net->mask[r];
        while (m) {
            int i = __builtin_ctz(m);
            acc[i] += c;
            m &= m - 1;
        }
    }
    for (int i = 0; i < n_in; i++) {
        float sg = x[i] >= 0.0f ? 1.0f : -1.0f;
        dx[i] += fac[i] * sg * acc[i];
    }
}

/* One plane of the backward pass, chunked (needs c_out <= CHUNK): dW is gathered into slice order in
 * CHUNK-float pieces; a slice that straddles two pieces keeps its rows in b/gr across them. sliced: dW is
 * already in slice order (dW^T of a dense layer) and is read in place. */
static void backward_plane_chunked(const fx_flexor_geom *g, int p, fx_bwd_mode mode, float S, const float *xp,
                                   const float *ap, const float *dW, float *dxp, float *dap, int sliced) {
    float tmp[CHUNK], b[32], gr[32];
    int C = g->c_out, n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    int64_t R = g->fan_in, RB = sliced ? R : CHUNK / C, j = 0, f = 0;
    int r = 0;
    uint32_t d = decrypt_word(&g->net[p], pack_slice(xp, n_in));
    for (int64_t r0 = 0; r0 < R; r0 += RB) {
        int64_t r1 = r0 + RB < R ? r0 + RB : R, cnt = (r1 - r0) * C;
        const float *buf = sliced ? dW + r0 * C : tmp;
        if (!sliced) gather_rows(g, r0, r1, dW, tmp);
        int co = 0;
        if (vec4_ok(g)) {
            for (int64_t e = 0; e < cnt; e += 4, f += 4) {
                v4f dw = ld4(buf + e), sg = ld4(SIGN4[(d >> r) & 15u]);
                st4(b + r, sg);
                st4(gr + r, ld4(ap + co) * dw);
                if (dap) st4(dap + co, ld4(dap + co) + sg * dw);
                if ((co += 4) == C) co = 0;
                r += 4;
                if (r == n_out || f + 4 == g->n) {
                    if (dxp) slice_backward(&g->net[p], mode, S, xp + j * n_in, b, gr, r, dxp + j * n_in);
                    r = 0;
                    if (++j < g->n_slices) d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
                }
            }
            continue;
        }
        for (int64_t e = 0; e < cnt; e++, f++) {
            float dw = buf[e];
            b[r] = ((d >> r) & 1u) ? 1.0f : -1.0f;
            gr[r] = ap[co] * dw;
            if (dap) dap[co] += b[r] * dw;
            if (++co == C) co = 0;
            if (++r == n_out || f + 1 == g->n) {
                if (dxp) slice_backward(&g->net[p], mode, S, xp + j * n_in, b, gr, r, dxp + j * n_in);
                r = 0;
                if (++j < g->n_slices) d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
            }
        }
    }
}

fx_status fx_flexor_weight_backward(fx_ctx *ctx, const fx_flexor_geom *g, fx_bwd_mode mode, float S,
                                    const float *x, const float *alpha, const float *dW, float *dx,
                                    float *dalpha) {
    static const char fn[] = "fx_flexor_weight_backward";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, dW);
    if (mode != FX_BWD_FLEXOR && mode != FX_BWD_STE && mode != FX_BWD_ANALOG)
        return fx_fail(ctx, FX_EINVAL, "%s: unknown backward mode %d (0 flexor, 1 ste, 2 analog)", fn, (int)mode);
    if (!(S > 0.0f) || !isfinite(S))
        return fx_fail(ctx, FX_EINVAL, "%s: S_tanh must be a finite number > 0 (got %g)", fn, (double)S);
    int n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    for (int p = 0; p < g->cfg.q; p++) {
        const float *xp = x + p * g->n_lat;
        const float *ap = alpha + (int64_t)p * g->c_out;
        float *dxp = dx ? dx + p * g->n_lat : NULL;
        float *dap = dalpha ? dalpha + (int64_t)p * g->c_out : NULL;
        if (g->c_out <= CHUNK) {
            backward_plane_chunked(g, p, mode, S, xp, ap, dW, dxp, dap, 0);
            continue;
        }
        walk w = walk_start(g);
        int64_t f = 0;
        for (int64_t j = 0; j < g->n_slices; j++) {
            uint32_t d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
            float b[32], gr[32];
            int nr = 0;
            for (int r = 0; r < n_out && f < g->n; r++, f++, nr++) {
                float dw = dW[walk_index(&w)];
                b[r] = ((d >> r) & 1u) ? 1.0f : -1.0f;
                gr[r] = ap[w.co] * dw;
                if (dap) dap[w.co] += b[r] * dw;
                walk_next(&w);
            }
            if (dxp) slice_backward(&g->net[p], mode, S, xp + j * n_in, b, gr, nr, dxp + j * n_in);
        }
    }
    return FX_OK;
}

fx_status fx__flexor_weight_backward_t(fx_ctx *ctx, const fx_flexor_geom *g, fx_bwd_mode mode, float S,
                                      const float *x, const float *alpha, const float *dWt, float *dx, float *dalpha) {
    static const char fn[] = "fx__flexor_weight_backward_t";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, dWt);
    if (g->k != 0) return fx_fail(ctx, FX_EUNSUPPORTED, "%s: dense geometries only (k = 0)", fn);
    if (mode != FX_BWD_FLEXOR && mode != FX_BWD_STE && mode != FX_BWD_ANALOG)
        return fx_fail(ctx, FX_EINVAL, "%s: unknown backward mode %d (0 flexor, 1 ste, 2 analog)", fn, (int)mode);
    if (!(S > 0.0f) || !isfinite(S))
        return fx_fail(ctx, FX_EINVAL, "%s: S_tanh must be a finite number > 0 (got %g)", fn, (double)S);
    for (int p = 0; p < g->cfg.q; p++)
        backward_plane_chunked(g, p, mode, S, x + p * g->n_lat, alpha + (int64_t)p * g->c_out, dWt,
                               dx ? dx + p * g->n_lat : NULL, dalpha ? dalpha + (int64_t)p * g->c_out : NULL, 1);
    return FX_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * Encryption of given weights (initialisation from a full-precision model)
 * ------------------------------------------------------------------------------------------------------- */

/* Weighted agreement of word e's decryption with the targets of one slice: sum_r wt[r] * (b_r == tgt_r). */
static float slice_score(const fx_xornet *net, uint32_t e, uint32_t tgt, const float *wt, int nr) {
    uint32_t agree = ~(decrypt_word(net, e) ^ tgt);
    float s = 0.0f;
    for (int r = 0; r < nr; r++) s += ((agree >> r) & 1u) ? wt[r] : 0.0f;
    return s;
}

static uint32_t best_word(const fx_xornet *net, uint32_t tgt, const float *wt, int nr, fx_rng *rng) {
    int n_in = net->n_in;
    uint32_t best = 0;
    float best_s = -1.0f;
    if (n_in <= 10) {
        for (uint32_t e = 0; e < (1u << n_in); e++) {
            float s = slice_score(net, e, tgt, wt, nr);
            if (s > best_s) { best_s = s; best = e; }
        }
        return best;
    }
    for (int restart = 0; restart < 8; restart++) {
        uint32_t e = fx_rng_u32(rng) & low_bits(n_in);
        float s = slice_score(net, e, tgt, wt, nr);
        for (int pass = 0, improved = 1; pass < 32 && improved; pass++) {
            improved = 0;
            for (int i = 0; i < n_in; i++) {
                float t = slice_score(net, e ^ (1u << i), tgt, wt, nr);
                if (t > s) { s = t; e ^= 1u << i; improved = 1; }
            }
        }
        if (s > best_s) { best_s = s; best = e; }
    }
    return best;
}

fx_status fx_flexor_encrypt(fx_ctx *ctx, const fx_flexor_geom *g, const float *W, float mag, uint64_t seed, float *x,
                            float *alpha, float *W_work) {
    static const char fn[] = "fx_flexor_encrypt";
    FX_CHECK_PTR(ctx, fn, g);
    FX_CHECK_PTR(ctx, fn, W);
    FX_CHECK_PTR(ctx, fn, x);
    FX_CHECK_PTR(ctx, fn, alpha);
    FX_CHECK_PTR(ctx, fn, W_work);
    fx_rng rng;
    fx_rng_seed(&rng, seed);
    float *res = W_work; /* the residual still to be explained by the remaining planes */
    memcpy(res, W, sizeof(float) * (size_t)g->n);
    int n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    for (int p = 0; p < g->cfg.q; p++) {
        float *xp = x + p * g->n_lat, *ap = alpha + (int64_t)p * g->c_out;
        walk w = walk_start(g);
        int64_t f = 0;
        for (int64_t j = 0; j < g->n_slices; j++) {
            uint32_t tgt = 0;
            float wt[32];
            int nr = 0;
            for (int r = 0; r < n_out && f < g->n; r++, f++, nr++) {
                float v = res[walk_index(&w)];
                tgt |= (uint32_t)(v >= 0.0f) << r;
                wt[r] = fabsf(v);
                walk_next(&w);
            }
            uint32_t e = best_word(&g->net[p], tgt, wt, nr, &rng);
            for (int i = 0; i < n_in; i++) xp[j * n_in + i] = ((e >> i) & 1u) ? mag : -mag;
        }
        /* least-squares alpha per output channel for the chosen bits: alpha = sum(res*b) / count */
        for (int c = 0; c < g->c_out; c++) ap[c] = 0.0f;
        w = walk_start(g);
        f = 0;
        for (int64_t j = 0; j < g->n_slices; j++) {
            uint32_t d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
            for (int r = 0; r < n_out && f < g->n; r++, f++) {
                int64_t idx = walk_index(&w);
                ap[w.co] += ((d >> r) & 1u) ? res[idx] : -res[idx];
                walk_next(&w);
            }
        }
        for (int c = 0; c < g->c_out; c++) ap[c] = fabsf(ap[c] / (float)g->fan_in) + 1e-8f;
        /* subtract this plane's contribution */
        w = walk_start(g);
        f = 0;
        for (int64_t j = 0; j < g->n_slices; j++) {
            uint32_t d = decrypt_word(&g->net[p], pack_slice(xp + j * n_in, n_in));
            for (int r = 0; r < n_out && f < g->n; r++, f++) {
                res[walk_index(&w)] -= ((d >> r) & 1u) ? ap[w.co] : -ap[w.co];
                walk_next(&w);
            }
        }
    }
    return FX_OK;
}
