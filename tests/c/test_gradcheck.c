/*
 * test_gradcheck.c - finite-difference checks of every smooth backward in the core, through the public API only.
 *
 * Method: a scalar loss L = sum(R * y) with a fixed random R (so dL/dy = R is fed to the backward), evaluated
 * in double from the float32 forward; central differences (L(p+h) - L(p-h)) / (p+h - (p-h)), where the step is
 * the one float32 actually took. Every element of every (small) tensor is perturbed. The analytic gradients are
 * accumulated into buffers prefilled with ACC0, which is subtracted again: a backward that overwrote instead of
 * accumulating (docs/CORE.md) fails too. Tolerance |a - n| <= atol + rtol*|n|, stated per check; each check must
 * also be able to see a 10% error in its largest element (no vacuous comparisons of near-zero gradients, unless
 * marked). The loss layers are checked against their own loss value. The FleXOR weight backward is checked
 * against finite differences of the surrogate each mode claims to differentiate (docs/CORE.md "Backward"),
 * written out here independently from the masks and the slice order; dalpha against the digital forward, which
 * is linear in alpha. Last, two whole models (fx_model_*) against finite differences of their loss.
 * All randomness comes from fx_rng with fixed seeds.
 */
#include "../../src/flexor.h"
#include "fxtest.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void test_gradcheck(void);

static fx_ctx *ctx;

/* Counts only failures: the loss functions call the core thousands of times. */
#define OK(call) do { fx_status s_ = (call); \
    if (s_ != FX_OK) FXT_CHECK(0, "%s -> %s: %s", #call, fx_status_str(s_), fx_ctx_message(ctx)); } while (0)

/* Default tolerance (float32 forward, double loss, h ~ 1e-2). */
#define ATOL 2e-3
#define RTOL 2e-2
#define ACC0 0.5f /* gradient buffers start here: backward must accumulate */

/* ---------------------------------------------------------------------------------------------------------
 * Statistics per group: the worst |a - n| relative to the tensor's max |n|, and the worst use of the tolerance.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { const char *name; double max_rel, max_use, secs; long tensors, evals, skipped; } gc_stat;
static gc_stat stats[24];
static int n_stats;
static gc_stat *cur;
static int verbose; /* FXT_GRADCHECK_VERBOSE set: one line per compared tensor */

static const char *nm(const char *fmt, ...) {
    static char ring[4][128];
    static int at;
    char *b = ring[at++ & 3];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 128, fmt, ap);
    va_end(ap);
    return b;
}

/* Analytic a against numeric num, element by element. zero_ok: the gradient may legitimately be ~0. */
static void compare(const char *what, const float *a, const double *num, long len, double atol, double rtol,
                    int zero_ok) {
    long bad = -1;
    double worst_ex = 0.0, maxd = 0.0, scale = 0.0, use = 0.0;
    for (long i = 0; i < len; i++) {
        double n = num[i], d = fabs((double)a[i] - n), lim = atol + rtol * fabs(n);
        if (fabs(n) > scale) scale = fabs(n);
        if (!(d <= lim)) { /* NaN-safe */
            double ex = isnan(d) ? INFINITY : d - lim;
            if (bad < 0 || ex > worst_ex) { bad = i; worst_ex = ex; }
        }
        if (d > maxd || isnan(d)) maxd = isnan(d) ? INFINITY : d;
        if (d / lim > use || isnan(d)) use = isnan(d) ? INFINITY : d / lim;
    }
    FXT_CHECK(bad < 0, "%s: element %ld analytic %.9g numeric %.9g (atol %g rtol %g); max |diff| %.3e over %ld",
              what, bad, bad >= 0 ? (double)a[bad] : 0.0, bad >= 0 ? num[bad] : 0.0, atol, rtol, maxd, len);
    if (!zero_ok)
        FXT_CHECK(0.1 * scale > atol + rtol * scale,
                  "%s: gradient scale %.3g is too small for atol %g: the check could not see a 10%% error", what,
                  scale, atol);
    if (verbose) printf("    %-40s n %5ld  max|FD| %9.3e  max|diff| %9.3e  tol-use %6.3f\n", what, len, scale, maxd, use);
    if (cur) {
        double rel = scale > 0 ? maxd / scale : maxd;
        if (!zero_ok && rel > cur->max_rel) cur->max_rel = rel; /* relative to ~0 means nothing */
        if (use > cur->max_use) cur->max_use = use;
        cur->tensors++;
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------------------- */

typedef double (*loss_fn)(void *u);

/* Central differences of L w.r.t. every element of the float tensor p (len values), step h. */
static void fd_float(float *p, long len, double h, loss_fn L, void *u, double *num) {
    for (long i = 0; i < len; i++) {
        float s = p[i], pp = (float)(s + h), pm = (float)(s - h);
        p[i] = pp;
        double lp = L(u);
        p[i] = pm;
        double lm = L(u);
        p[i] = s;
        num[i] = (lp - lm) / ((double)pp - (double)pm);
    }
    if (cur) cur->evals += 2 * len;
}

static float *falloc(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static double *dalloc(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }
static float *ws_alloc(size_t n) {
    size_t bytes = ((n > 0 ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}
static float *normal_buf(fx_rng *r, long n, float sd) {
    float *p = falloc(n);
    for (long i = 0; i < n; i++) p[i] = sd * fx_rng_normal(r);
    return p;
}
static float *prefilled(long n) {
    float *p = falloc(n);
    for (long i = 0; i < n; i++) p[i] = ACC0;
    return p;
}
static void unfill(float *p, long n) {
    for (long i = 0; i < n; i++) p[i] -= ACC0;
}
static double dot(const float *R, const float *y, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)R[i] * (double)y[i];
    return s;
}

/* ---------------------------------------------------------------------------------------------------------
 * conv2d: dx, dw, db. Linear in each argument, so FD is exact up to float32 rounding; h = 1e-2.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { fx_conv_shape s; float *x, *w, *b, *y, *R, *ws; long ny; } conv_u;

static double conv_loss(void *p) {
    conv_u *u = p;
    OK(fx_conv2d_forward(ctx, &u->s, u->y, u->x, u->w, u->b, u->ws));
    return dot(u->R, u->y, u->ny);
}

static void test_conv(void) {
    /* n, c_in, h, w, c_out, k, stride, pad, bias */
    static const int cases[][9] = {
        {2, 3, 7, 5, 4, 1, 1, 0, 1}, /* pointwise path (no im2col) */
        {2, 3, 7, 5, 4, 1, 2, 0, 0}, /* k = 1 with stride: im2col path */
        {2, 3, 7, 5, 4, 3, 1, 1, 1}, {2, 3, 7, 5, 4, 3, 2, 1, 0}, {2, 3, 7, 5, 4, 3, 2, 0, 1},
        {2, 3, 7, 5, 4, 5, 1, 0, 1}, /* 3x1 output */
        {2, 3, 7, 5, 4, 5, 2, 1, 1}, {1, 2, 5, 5, 3, 3, 1, 2, 1}, /* pad = k-1: windows of only padding */
        {3, 1, 4, 6, 2, 3, 3, 1, 1}, /* stride 3 */
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const int *c = cases[k];
        fx_rng r;
        fx_rng_seed(&r, 1000 + (uint64_t)k);
        conv_u u;
        memset(&u, 0, sizeof u);
        fx_status st = fx_conv_shape_init(ctx, &u.s, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        FXT_CHECK(st == FX_OK, "conv%d shape: %s", k, fx_ctx_message(ctx));
        if (st) continue;
        long nx = (long)c[0] * c[1] * c[2] * c[3], nw = (long)c[4] * c[1] * c[5] * c[5];
        u.ny = (long)c[0] * c[4] * u.s.h_out * u.s.w_out;
        u.x = normal_buf(&r, nx, 1.0f);
        u.w = normal_buf(&r, nw, 0.5f);
        u.b = c[8] ? normal_buf(&r, c[4], 0.5f) : NULL;
        u.y = falloc(u.ny);
        u.R = normal_buf(&r, u.ny, 1.0f);
        u.ws = ws_alloc(fx_conv2d_ws_floats(&u.s));
        float *dx = prefilled(nx), *dw = prefilled(nw), *db = prefilled(c[4]);
        OK(fx_conv2d_backward(ctx, &u.s, dx, dw, u.b ? db : NULL, u.R, u.x, u.w, u.ws));
        unfill(dx, nx); unfill(dw, nw); unfill(db, c[4]);
        double *num = dalloc(nx > nw ? nx : nw);
        fd_float(u.x, nx, 1e-2, conv_loss, &u, num);
        compare(nm("conv%d dx", k), dx, num, nx, ATOL, RTOL, 0);
        fd_float(u.w, nw, 1e-2, conv_loss, &u, num);
        compare(nm("conv%d dw", k), dw, num, nw, ATOL, RTOL, 0);
        if (u.b) {
            fd_float(u.b, c[4], 1e-2, conv_loss, &u, num);
            compare(nm("conv%d db", k), db, num, c[4], ATOL, RTOL, 0);
        } else {
            FXT_CHECK(db[0] == 0.0f, "conv%d: db was written although b is NULL", k);
        }
        free(num); free(dx); free(dw); free(db);
        free(u.x); free(u.w); free(u.b); free(u.y); free(u.R); free(u.ws);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * dense: dx, dw, db (linear; h = 1e-2).
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int n, in, out; float *x, *w, *b, *y, *R, *ws; } dense_u;

static double dense_loss(void *p) {
    dense_u *u = p;
    OK(fx_dense_forward(ctx, u->n, u->in, u->out, u->y, u->x, u->w, u->b, u->ws));
    return dot(u->R, u->y, (long)u->n * u->out);
}

static void test_dense(void) {
    static const int cases[][4] = {{3, 7, 5, 1}, {1, 1, 1, 1}, {4, 9, 2, 0}, {2, 33, 17, 1}}; /* n, in, out, bias */
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const int *c = cases[k];
        fx_rng r;
        fx_rng_seed(&r, 2000 + (uint64_t)k);
        dense_u u = {c[0], c[1], c[2], NULL, NULL, NULL, NULL, NULL, NULL};
        long nx = (long)c[0] * c[1], nw = (long)c[1] * c[2], ny = (long)c[0] * c[2];
        u.x = normal_buf(&r, nx, 1.0f);
        u.w = normal_buf(&r, nw, 0.5f);
        u.b = c[3] ? normal_buf(&r, c[2], 0.5f) : NULL;
        u.y = falloc(ny);
        u.R = normal_buf(&r, ny, 1.0f);
        u.ws = ws_alloc(fx_dense_ws_floats());
        float *dx = prefilled(nx), *dw = prefilled(nw), *db = prefilled(c[2]);
        OK(fx_dense_backward(ctx, u.n, u.in, u.out, dx, dw, u.b ? db : NULL, u.R, u.x, u.w, u.ws));
        unfill(dx, nx); unfill(dw, nw); unfill(db, c[2]);
        double *num = dalloc(nx > nw ? nx : nw);
        fd_float(u.x, nx, 1e-2, dense_loss, &u, num);
        compare(nm("dense%d dx", k), dx, num, nx, ATOL, RTOL, 0);
        fd_float(u.w, nw, 1e-2, dense_loss, &u, num);
        compare(nm("dense%d dw", k), dw, num, nw, ATOL, RTOL, 0);
        if (u.b) {
            fd_float(u.b, c[2], 1e-2, dense_loss, &u, num);
            compare(nm("dense%d db", k), db, num, c[2], ATOL, RTOL, 0);
        }
        free(num); free(dx); free(dw); free(db);
        free(u.x); free(u.w); free(u.b); free(u.y); free(u.R); free(u.ws);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * batch norm, train mode (the output of a channel depends on all its inputs) and eval mode (affine).
 * Inputs have per-channel offsets and spreads >= 0.5, so h = 1e-2 is small against the batch statistics.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int n, c, hw, train; float *x, *gamma, *beta, *rm0, *rv0, *rm, *rv, *cm, *cr, *y, *R; long len; } bn_u;

static double bn_loss(void *p) {
    bn_u *u = p;
    memcpy(u->rm, u->rm0, sizeof(float) * (size_t)u->c); /* running stats: the same start every time */
    memcpy(u->rv, u->rv0, sizeof(float) * (size_t)u->c);
    OK(fx_bn_forward(ctx, u->n, u->c, u->hw, u->train, u->y, u->x, u->gamma, u->beta, u->rm, u->rv, u->cm, u->cr));
    return dot(u->R, u->y, u->len);
}

static void test_bn(void) {
    /* n, c, hw, train, dx may be ~0 */
    static const int cases[][5] = {
        {3, 4, 5, 1, 0}, {5, 3, 1, 1, 0}, /* 1-D batch norm */
        {2, 3, 1, 1, 1},                  /* two values per channel: y = +-gamma*(1-O(eps)), dy/dx ~ eps */
        {1, 2, 7, 1, 0}, {3, 4, 5, 0, 0}, {2, 2, 7, 0, 0},
    };
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const int *c = cases[k];
        fx_rng r;
        fx_rng_seed(&r, 3000 + (uint64_t)k);
        bn_u u;
        memset(&u, 0, sizeof u);
        u.n = c[0]; u.c = c[1]; u.hw = c[2]; u.train = c[3];
        u.len = (long)u.n * u.c * u.hw;
        u.x = falloc(u.len);
        for (int ch = 0; ch < u.c; ch++) {
            float off = 4.0f * fx_rng_uniform(&r) - 2.0f, sd = 0.5f + 1.5f * fx_rng_uniform(&r);
            for (int i = 0; i < u.n; i++)
                for (int j = 0; j < u.hw; j++) u.x[((long)i * u.c + ch) * u.hw + j] = off + sd * fx_rng_normal(&r);
        }
        u.gamma = falloc(u.c); u.beta = falloc(u.c); u.rm0 = falloc(u.c); u.rv0 = falloc(u.c);
        for (int ch = 0; ch < u.c; ch++) {
            u.gamma[ch] = 0.5f + fx_rng_uniform(&r);
            u.beta[ch] = 0.5f * fx_rng_normal(&r);
            u.rm0[ch] = 0.5f * fx_rng_normal(&r);
            u.rv0[ch] = 0.5f + 1.5f * fx_rng_uniform(&r);
        }
        u.rm = falloc(u.c); u.rv = falloc(u.c); u.cm = falloc(u.c); u.cr = falloc(u.c);
        u.y = falloc(u.len);
        u.R = normal_buf(&r, u.len, 1.0f);
        float *dx = prefilled(u.len), *dg = prefilled(u.c), *dbt = prefilled(u.c);
        bn_loss(&u); /* forward at the base point: writes the caches backward uses */
        OK(fx_bn_backward(ctx, u.n, u.c, u.hw, u.train, dx, dg, dbt, u.R, u.x, u.gamma, u.cm, u.cr));
        unfill(dx, u.len); unfill(dg, u.c); unfill(dbt, u.c);
        const char *mode = u.train ? "train" : "eval";
        double *num = dalloc(u.len);
        fd_float(u.x, u.len, 1e-2, bn_loss, &u, num);
        compare(nm("bn%d(%s) dx", k, mode), dx, num, u.len, ATOL, RTOL, c[4]);
        fd_float(u.gamma, u.c, 1e-2, bn_loss, &u, num);
        compare(nm("bn%d(%s) dgamma", k, mode), dg, num, u.c, ATOL, RTOL, 0);
        fd_float(u.beta, u.c, 1e-2, bn_loss, &u, num);
        compare(nm("bn%d(%s) dbeta", k, mode), dbt, num, u.c, ATOL, RTOL, 0);
        free(num); free(dx); free(dg); free(dbt);
        free(u.x); free(u.gamma); free(u.beta); free(u.rm0); free(u.rv0); free(u.rm); free(u.rv);
        free(u.cm); free(u.cr); free(u.y); free(u.R);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Parameter-free layers: global average pool, option-A shortcut, max pool, ReLU (all piecewise linear).
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int kind, n, c, h, w, c_out, k, s; float *x, *y, *R; int32_t *am; long ny; } pf_u;
enum { PF_GAP, PF_SHORTCUT, PF_MAXPOOL, PF_RELU };

static double pf_loss(void *p) {
    pf_u *u = p;
    switch (u->kind) {
    case PF_GAP: OK(fx_gap_forward(ctx, u->n, u->c, u->h * u->w, u->y, u->x)); break;
    case PF_SHORTCUT: OK(fx_shortcut_forward(ctx, u->n, u->c, u->h, u->w, u->c_out, u->s, u->y, u->x)); break;
    case PF_MAXPOOL: OK(fx_maxpool_forward(ctx, u->n, u->c, u->h, u->w, u->k, u->s, u->y, u->am, u->x)); break;
    default: OK(fx_relu_forward(ctx, (int64_t)u->n * u->c * u->h * u->w, u->y, u->x)); break;
    }
    return dot(u->R, u->y, u->ny);
}

/* One case: forward at the base point, backward with dy = R, FD of every input. */
static void pf_case(pf_u *u, fx_rng *r, const char *what) {
    long nx = (long)u->n * u->c * u->h * u->w;
    u->y = falloc(u->ny);
    u->R = normal_buf(r, u->ny, 1.0f);
    u->am = calloc((size_t)u->ny, sizeof(int32_t));
    float *dx = prefilled(nx);
    pf_loss(u);
    switch (u->kind) {
    case PF_GAP: OK(fx_gap_backward(ctx, u->n, u->c, u->h * u->w, dx, u->R)); break;
    case PF_SHORTCUT: OK(fx_shortcut_backward(ctx, u->n, u->c, u->h, u->w, u->c_out, u->s, dx, u->R)); break;
    case PF_MAXPOOL: OK(fx_maxpool_backward(ctx, u->n, u->c, u->h, u->w, u->k, u->s, dx, u->R, u->am)); break;
    default: OK(fx_relu_backward(ctx, nx, dx, u->R, u->y)); break;
    }
    unfill(dx, nx);
    double *num = dalloc(nx);
    fd_float(u->x, nx, 1e-2, pf_loss, u, num);
    /* GAP's gradient is R/hw (max ~0.08 for hw = 35): 3x above the 10%-rule floor atol/(0.1-rtol) = 0.025 */
    compare(what, dx, num, nx, ATOL, RTOL, 0);
    free(num); free(dx); free(u->y); free(u->R); free(u->am);
}

static void test_gap(void) {
    static const int cases[][4] = {{2, 3, 7, 5}, {1, 1, 1, 1}, {3, 5, 3, 3}}; /* n, c, h, w */
    for (int k = 0; k < 3; k++) {
        fx_rng r;
        fx_rng_seed(&r, 4000 + (uint64_t)k);
        pf_u u = {PF_GAP, cases[k][0], cases[k][1], cases[k][2], cases[k][3], 0, 0, 0, NULL, NULL, NULL, NULL, 0};
        u.ny = (long)u.n * u.c;
        u.x = normal_buf(&r, (long)u.n * u.c * u.h * u.w, 1.0f);
        pf_case(&u, &r, nm("gap%d dx", k));
        free(u.x);
    }
}

static void test_shortcut(void) {
    static const int cases[][6] = {/* n, c_in, h, w, c_out, s */
                                   {2, 3, 7, 5, 7, 2}, {2, 2, 5, 5, 2, 1}, {1, 3, 7, 7, 5, 3}, {2, 4, 1, 3, 8, 2},
                                   {1, 1, 9, 4, 3, 4}};
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const int *c = cases[k];
        fx_rng r;
        fx_rng_seed(&r, 5000 + (uint64_t)k);
        pf_u u = {PF_SHORTCUT, c[0], c[1], c[2], c[3], c[4], 0, c[5], NULL, NULL, NULL, NULL, 0};
        u.ny = (long)u.n * u.c_out * ((u.h + u.s - 1) / u.s) * ((u.w + u.s - 1) / u.s);
        u.x = normal_buf(&r, (long)u.n * u.c * u.h * u.w, 1.0f);
        /* dx is 0 off the ::s grid; the largest element is a picked one, so the 10% rule still applies */
        pf_case(&u, &r, nm("shortcut%d dx", k));
        free(u.x);
    }
}

static void test_maxpool(void) {
    static const int cases[][6] = {/* n, c, h, w, k, s */
                                   {2, 3, 7, 6, 2, 2}, /* floor drops the last row */
                                   {2, 2, 7, 7, 3, 2}, /* overlapping windows: one input can win twice */
                                   {1, 3, 5, 4, 3, 1}, {2, 1, 5, 5, 5, 1}, {1, 2, 6, 9, 2, 3}};
    for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        const int *c = cases[k];
        fx_rng r;
        fx_rng_seed(&r, 6000 + (uint64_t)k);
        pf_u u = {PF_MAXPOOL, c[0], c[1], c[2], c[3], 0, c[4], c[5], NULL, NULL, NULL, NULL, 0};
        u.ny = (long)u.n * u.c * ((u.h - u.k) / u.s + 1) * ((u.w - u.k) / u.s + 1);
        long nx = (long)u.n * u.c * u.h * u.w;
        /* Distinct values 0.1 apart in a random order: h = 1e-2 never changes an argmax. */
        u.x = falloc(nx);
        for (long i = 0; i < nx; i++) u.x[i] = 0.1f * (float)i - 0.05f * (float)nx;
        for (long i = nx - 1; i > 0; i--) {
            long j = (long)fx_rng_below(&r, (uint32_t)(i + 1));
            float t = u.x[i]; u.x[i] = u.x[j]; u.x[j] = t;
        }
        pf_case(&u, &r, nm("maxpool%d dx", k));
        free(u.x);
    }
}

static void test_relu(void) {
    fx_rng r;
    fx_rng_seed(&r, 7000);
    pf_u u = {PF_RELU, 1, 1, 1, 97, 0, 0, 0, NULL, NULL, NULL, NULL, 97};
    u.x = falloc(97);
    for (int i = 0; i < 97; i++) { /* |x| >= 0.1: h = 1e-2 never crosses the kink */
        float v = fx_rng_normal(&r);
        u.x[i] = v >= 0 ? v + 0.1f : v - 0.1f;
    }
    pf_case(&u, &r, "relu dx");
    free(u.x);
}

/* ---------------------------------------------------------------------------------------------------------
 * Losses: dz against FD of the loss value itself. The loss is returned as float32 (one rounding, ~1e-7
 * relative), so with h = 1e-2 the FD noise is ~1e-5 and the tolerance is tighter than the default:
 * atol 1e-4, rtol 1e-2 (dz is O(1/N), so the default atol would hide a wrong 1/N).
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int n, k, distill; float *z, *t, T, a, *dz; int32_t *labels; } loss_u;

static double loss_loss(void *p) {
    loss_u *u = p;
    float loss = 0.0f;
    if (u->distill)
        OK(fx_distill_forward_backward(ctx, u->n, u->k, u->z, u->t, u->labels, u->T, u->a, &loss, u->dz));
    else
        OK(fx_xent_forward_backward(ctx, u->n, u->k, u->z, u->labels, &loss, u->dz));
    return (double)loss;
}

static void loss_case(int distill, int idx, int n, int k, float zscale, float T, float a) {
    fx_rng r;
    fx_rng_seed(&r, (distill ? 8100 : 8000) + (uint64_t)idx);
    loss_u u = {n, k, distill, NULL, NULL, T, a, NULL, NULL};
    long len = (long)n * k;
    u.z = normal_buf(&r, len, zscale);
    u.t = normal_buf(&r, len, zscale);
    u.dz = falloc(len);
    u.labels = calloc((size_t)n, sizeof(int32_t));
    for (int i = 0; i < n; i++) u.labels[i] = (int32_t)fx_rng_below(&r, (uint32_t)k);
    float *dz = falloc(len);
    for (long i = 0; i < len; i++) u.dz[i] = 123.0f; /* dz is WRITTEN, not accumulated */
    loss_loss(&u);
    memcpy(dz, u.dz, sizeof(float) * (size_t)len);
    double *num = dalloc(len);
    fd_float(u.z, len, 1e-2, loss_loss, &u, num);
    compare(distill ? nm("distill%d dz (T %g a %g)", idx, (double)T, (double)a) : nm("xent%d dz", idx), dz, num, len,
            1e-4, 1e-2, 0);
    free(num); free(dz); free(u.z); free(u.t); free(u.dz); free(u.labels);
}

static void test_xent(void) {
    loss_case(0, 0, 3, 5, 2.0f, 1, 0);
    loss_case(0, 1, 1, 2, 1.0f, 1, 0);
    loss_case(0, 2, 4, 10, 5.0f, 1, 0); /* confident logits: exercises the max shift */
}

static void test_distill(void) {
    loss_case(1, 0, 3, 5, 2.0f, 3.0f, 0.7f);
    loss_case(1, 1, 2, 4, 2.0f, 1.0f, 1.0f); /* pure KL */
    loss_case(1, 2, 4, 6, 1.0f, 0.5f, 0.3f); /* T < 1 */
    loss_case(1, 3, 3, 5, 2.0f, 4.0f, 0.0f); /* pure CE through the distillation path */
}

/* ---------------------------------------------------------------------------------------------------------
 * FleXOR weight backward against the surrogates (docs/CORE.md "Backward"), written out here from the masks
 * and the slice order: weight (co, ci, kh, kw) has slice-order index f = ((kh*K + kw)*C_in + ci)*C_out + co
 * (dense f = i*O + o); slice j = f / n_out, row r = f % n_out; tail rows of the last slice are dropped.
 * L = sum_f R_f W_f, so dW = R and g_r = alpha * R_f. The surrogates are evaluated in double, so the FD
 * step can be small: h = 2e-3/S (S*h = 2e-3, truncation ~1e-6 relative), and the latent values satisfy
 * |x| >= 1e-2/S (5h), so no step could change a sign even if one entered (in the FLEXOR and STE surrogates the
 * other inputs' signs are frozen at the base point anyway, and x_i enters only through tanh or itself).
 * ------------------------------------------------------------------------------------------------------- */

typedef struct { int c_out, c_in, k, n_out, n_in, n_tap, q; uint64_t seed; float S; } fxc;
static const fxc fx_cases[] = {
    {5, 3, 3, 20, 8, 2, 2, 7, 10.0f},    /* conv, 135 = 6*20 + 15: tail of 5 rows */
    {7, 5, 0, 16, 6, 0, 2, 8, 10.0f},    /* dense, random fill, 35 = 2*16 + 3 */
    {3, 5, 0, 4, 1, 0, 3, 9, 10.0f},     /* dense, N_in = 1 (every row is the one bit), q = 3, 15 = 3*4 + 3 */
    {4, 2, 3, 32, 32, 5, 1, 10, 10.0f},  /* conv, n_in = n_out = 32 (bit 31, full-width masks) */
    {6, 4, 1, 10, 7, 3, 4, 11, 2.5f},    /* 1x1 conv, q = 4, a smaller S */
};
#define N_FX_CASES (int)(sizeof fx_cases / sizeof fx_cases[0])

typedef struct { fx_flexor_geom g; float *x, *alpha, *R, *W; long nx, na; } fx_u;

static int fx_setup(int idx, fx_u *u) {
    const fxc *c = &fx_cases[idx];
    memset(u, 0, sizeof *u);
    fx_flexor_cfg cfg = {c->n_out, c->n_in, c->n_tap, c->q, c->seed};
    fx_status st = fx_flexor_geom_init(ctx, &u->g, &cfg, c->c_out, c->c_in, c->k);
    FXT_CHECK(st == FX_OK, "flexor case %d: geom: %s", idx, fx_ctx_message(ctx));
    if (st) return 0;
    fx_rng r;
    fx_rng_seed(&r, 9000 + (uint64_t)idx);
    u->nx = (long)(u->g.n_lat * c->q);
    u->na = (long)c->q * c->c_out;
    u->x = falloc(u->nx);
    for (long i = 0; i < u->nx; i++) { /* x ~ N(0, (0.5/S)^2), |x| >= 1e-2/S */
        float v;
        do v = 0.5f / c->S * fx_rng_normal(&r); while (fabsf(v) < 1e-2f / c->S);
        u->x[i] = v;
    }
    u->alpha = falloc(u->na);
    for (long i = 0; i < u->na; i++) u->alpha[i] = 0.2f + fx_rng_uniform(&r);
    u->R = normal_buf(&r, (long)u->g.n, 1.0f);
    u->W = falloc((long)u->g.n);
    return 1;
}

static void fx_free_u(fx_u *u) { free(u->x); free(u->alpha); free(u->R); free(u->W); }

/* OIHW (dense [O][I]) index of slice-order index f, and its output channel. */
static long f_to_w(const fx_flexor_geom *g, long f, int *co) {
    int kk = g->k ? g->k * g->k : 1;
    *co = (int)(f % g->c_out);
    long rest = f / g->c_out;
    int ci = (int)(rest % g->c_in);
    long kpos = rest / g->c_in;
    return (long)*co * g->fan_in + (long)ci * kk + kpos;
}

static double sgnd(double v) { return v >= 0.0 ? 1.0 : -1.0; }
static double row_sign0(const fx_xornet *net, int r) { return (__builtin_popcount(net->mask[r]) & 1) ? 1.0 : -1.0; }

/* ANALOG surrogate: L(x) = sum_f R_f sum_p alpha_p[co] (-1)^(n_r-1) prod_{k in taps(r)} tanh(S x_k). */
static double analog_L(const fx_u *u, const double *x, double S) {
    const fx_flexor_geom *g = &u->g;
    int n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    double L = 0.0;
    for (int p = 0; p < g->cfg.q; p++)
        for (long f = 0; f < g->n; f++) {
            long j = f / n_out;
            int r = (int)(f % n_out), co;
            long wi = f_to_w(g, f, &co);
            double prod = row_sign0(&g->net[p], r);
            for (int k = 0; k < n_in; k++)
                if ((g->net[p].mask[r] >> k) & 1u) prod *= tanh(S * x[(long)p * g->n_lat + j * n_in + k]);
            L += (double)u->R[wi] * (double)u->alpha[(long)p * g->c_out + co] * prod;
        }
    return L;
}

/* FLEXOR (phi = tanh(S x)) or STE (phi = x) surrogate of latent (p, j, i) as a function of x_i = xi alone:
 * sum over the rows r of slice j that use i (tail dropped) of R_f alpha (-1)^(n_r-1) phi(xi) prod_{k!=i} sign(x_k). */
static double eq6_f(const fx_u *u, int p, long j, int i, double xi, int ste, double S) {
    const fx_flexor_geom *g = &u->g;
    int n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    const float *xs = u->x + (long)p * g->n_lat + j * n_in;
    double phi = ste ? xi : tanh(S * xi), s = 0.0;
    for (int r = 0; r < n_out; r++) {
        long f = j * n_out + r;
        if (f >= g->n) break;
        uint32_t m = g->net[p].mask[r];
        if (!((m >> i) & 1u)) continue;
        int co;
        long wi = f_to_w(g, f, &co);
        double prod = row_sign0(&g->net[p], r);
        for (int k = 0; k < n_in; k++)
            if (k != i && ((m >> k) & 1u)) prod *= sgnd(xs[k]);
        s += (double)u->R[wi] * (double)u->alpha[(long)p * g->c_out + co] * prod;
    }
    return s * phi;
}

/* The digital forward must agree with the slice mapping used by the surrogates (their precondition). */
static void check_mapping(int idx, const fx_u *u) {
    const fx_flexor_geom *g = &u->g;
    int n_out = g->cfg.n_out, n_in = g->cfg.n_in;
    OK(fx_flexor_weight_forward(ctx, g, u->x, u->alpha, u->W, NULL));
    double *ref = dalloc((long)g->n);
    for (int p = 0; p < g->cfg.q; p++)
        for (long f = 0; f < g->n; f++) {
            long j = f / n_out;
            int r = (int)(f % n_out), co;
            long wi = f_to_w(g, f, &co);
            double b = row_sign0(&g->net[p], r);
            for (int k = 0; k < n_in; k++)
                if ((g->net[p].mask[r] >> k) & 1u) b *= sgnd(u->x[(long)p * g->n_lat + j * n_in + k]);
            ref[wi] += u->alpha[(long)p * g->c_out + co] * b;
        }
    long bad = -1;
    for (long i = 0; i < (long)g->n && bad < 0; i++)
        if (!(fabs(u->W[i] - ref[i]) <= 1e-5 * (1.0 + fabs(ref[i])))) bad = i;
    FXT_CHECK(bad < 0, "flexor case %d: digital W[%ld] = %g, slice mapping gives %g", idx, bad,
              bad >= 0 ? (double)u->W[bad] : 0.0, bad >= 0 ? ref[bad] : 0.0);
    free(ref);
}

static const char *mode_name(fx_bwd_mode m) { return m == FX_BWD_ANALOG ? "ANALOG" : m == FX_BWD_STE ? "STE" : "FLEXOR"; }

/* dx of one mode for every case against FD of that mode's surrogate. Tolerance: the surrogate is exact in
 * double and the analytic side is float32 (tanhf, products of up to 32 factors), so atol 1e-4, rtol 1e-3. */
static void flexor_dx(fx_bwd_mode mode) {
    for (int idx = 0; idx < N_FX_CASES; idx++) {
        fx_u u;
        if (!fx_setup(idx, &u)) continue;
        const fx_flexor_geom *g = &u.g;
        double S = fx_cases[idx].S, h = 2e-3 / S;
        if (mode == FX_BWD_ANALOG) check_mapping(idx, &u);
        float *dx = prefilled(u.nx), *da = prefilled(u.na);
        OK(fx_flexor_weight_backward(ctx, g, mode, (float)S, u.x, u.alpha, u.R, dx, da));
        unfill(dx, u.nx);
        double *num = dalloc(u.nx), *xd = dalloc(u.nx);
        for (long i = 0; i < u.nx; i++) xd[i] = u.x[i];
        for (long t = 0; t < u.nx; t++) {
            if (mode == FX_BWD_ANALOG) {
                double s = xd[t];
                xd[t] = s + h;
                double lp = analog_L(&u, xd, S);
                xd[t] = s - h;
                double lm = analog_L(&u, xd, S);
                xd[t] = s;
                num[t] = (lp - lm) / (2 * h);
            } else {
                int p = (int)(t / g->n_lat);
                long j = (t % g->n_lat) / g->cfg.n_in;
                int i = (int)(t % g->cfg.n_in);
                int ste = mode == FX_BWD_STE;
                num[t] = (eq6_f(&u, p, j, i, xd[t] + h, ste, S) - eq6_f(&u, p, j, i, xd[t] - h, ste, S)) / (2 * h);
            }
        }
        cur->evals += 2 * u.nx;
        compare(nm("flexor%d %s dx", idx, mode_name(mode)), dx, num, u.nx, 1e-4, 1e-3, 0);
        free(num); free(xd); free(dx); free(da);
        fx_free_u(&u);
    }
}

static void test_flexor_analog(void) { flexor_dx(FX_BWD_ANALOG); }
static void test_flexor_eq6(void) { flexor_dx(FX_BWD_FLEXOR); }
static void test_flexor_ste(void) { flexor_dx(FX_BWD_STE); }

/* dalpha against FD of the digital forward, which is linear in alpha (h = 1e-2), in every mode. */
typedef struct { fx_u *u; } fxa_u;
static double fx_alpha_loss(void *p) {
    fx_u *u = ((fxa_u *)p)->u;
    OK(fx_flexor_weight_forward(ctx, &u->g, u->x, u->alpha, u->W, NULL));
    return dot(u->R, u->W, (long)u->g.n);
}

static void test_flexor_alpha(void) {
    for (int idx = 0; idx < N_FX_CASES; idx++) {
        fx_u u;
        if (!fx_setup(idx, &u)) continue;
        fxa_u a = {&u};
        double *num = dalloc(u.na);
        fd_float(u.alpha, u.na, 1e-2, fx_alpha_loss, &a, num);
        for (int mode = 0; mode < 3; mode++) {
            float *da = prefilled(u.na);
            OK(fx_flexor_weight_backward(ctx, &u.g, (fx_bwd_mode)mode, fx_cases[idx].S, u.x, u.alpha, u.R, NULL, da));
            unfill(da, u.na);
            compare(nm("flexor%d %s dalpha", idx, mode_name((fx_bwd_mode)mode)), da, num, u.na, ATOL, RTOL, 0);
            free(da);
        }
        free(num);
        fx_free_u(&u);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Whole models: the gradients fx_model_backward gives for every full-precision parameter (and FleXOR alpha,
 * a true gradient of the digital forward) against FD of the loss, computed here in double from the logits
 * of a train-mode forward (BN running stats change on every forward; the train-mode output does not).
 * FleXOR latent values have surrogate gradients only (checked above) and are skipped here.
 * ------------------------------------------------------------------------------------------------------- */

typedef struct {
    fx_model *m;
    const float *x;
    int n, k;
    const int32_t *labels;
    const float *teacher;
    double T, a;
    unsigned char *pat; /* if not NULL, model_loss writes the kink pattern here */
    long npat;
} model_u;

/* The model's kinks at the last forward: the sign of every ReLU input and the argmax (first maximum,
 * row-major) of every max-pool window. Returns the pattern's length; pat may be NULL to size it. */
static long model_pattern(const model_u *u, unsigned char *pat) {
    long at = 0;
    for (int id = 1; id < fx_model_node_count(u->m); id++) {
        fx_node_info ni, src;
        if (fx_model_node_info(ctx, u->m, id, &ni) != FX_OK || (ni.kind != FX_NODE_RELU && ni.kind != FX_NODE_MAXPOOL))
            continue;
        const float *a = u->x;
        OK(fx_model_node_info(ctx, u->m, ni.in0, &src));
        if (ni.in0 > 0) OK(fx_model_activation(ctx, u->m, ni.in0, &a));
        long per = (long)src.c * src.h * src.w;
        if (ni.kind == FX_NODE_RELU) {
            for (long i = 0; i < u->n * per; i++, at++)
                if (pat) pat[at] = a[i] > 0.0f;
            continue;
        }
        for (long pl = 0; pl < (long)u->n * src.c; pl++)
            for (int oh = 0; oh < ni.h; oh++)
                for (int ow = 0; ow < ni.w; ow++, at++) {
                    const float *win = a + pl * src.h * src.w + (long)oh * ni.stride * src.w + (long)ow * ni.stride;
                    int best = 0;
                    for (int kh = 0; kh < ni.k; kh++)
                        for (int kw = 0; kw < ni.k; kw++)
                            if (win[kh * src.w + kw] > win[(best / ni.k) * src.w + best % ni.k]) best = kh * ni.k + kw;
                    if (pat) pat[at] = (unsigned char)best;
                }
    }
    return at;
}

static double lse_row(const float *z, int k, double T) {
    double mx = z[0];
    for (int j = 1; j < k; j++) if (z[j] > mx) mx = z[j];
    double s = 0.0;
    for (int j = 0; j < k; j++) s += exp((z[j] - mx) / T);
    return log(s) + mx / T;
}

static double model_loss(void *p) {
    model_u *u = p;
    const float *z = NULL;
    fx_model_touch(u->m); /* a parameter changed behind the model's back */
    OK(fx_model_forward(ctx, u->m, u->x, u->n, 1, &z));
    if (!z) return NAN;
    if (u->pat) model_pattern(u, u->pat);
    double total = 0.0;
    for (int i = 0; i < u->n; i++) {
        const float *zi = z + (long)i * u->k;
        double ce = lse_row(zi, u->k, 1.0) - zi[u->labels[i]], kl = 0.0;
        if (u->teacher) {
            const float *ti = u->teacher + (long)i * u->k;
            double ls = lse_row(zi, u->k, u->T), lt = lse_row(ti, u->k, u->T);
            for (int j = 0; j < u->k; j++) {
                double lpt = ti[j] / u->T - lt;
                kl += exp(lpt) * (lpt - (zi[j] / u->T - ls));
            }
            total += (1.0 - u->a) * ce + u->a * u->T * u->T * kl;
        } else {
            total += ce;
        }
    }
    return total / u->n;
}

/* 1 when some BN node reads node id. */
static int feeds_bn(const fx_model *m, int id) {
    for (int i = id + 1; i < fx_model_node_count(m); i++) {
        fx_node_info ni;
        if (fx_model_node_info(ctx, m, i, &ni) == FX_OK && ni.kind == FX_NODE_BN && ni.in0 == id) return 1;
    }
    return 0;
}

/* Checks every trainable non-latent parameter with |a - n| <= atol + 2e-2*|n|. The loss is an average over
 * the batch, so parameter gradients are ~1e-2..1 and atol is chosen per model below the default. Steps:
 * central differences with h = 3e-3 (truncation and float32 noise of the whole forward both ~1e-5 here), or
 * 1e-3 when the larger step changes a ReLU sign or a max-pool argmax (a kink, where FD is meaningless); an
 * element whose every step straddles a kink is skipped and counted (at most a quarter of a tensor). */
static void model_check(const char *name, model_u *u, uint64_t seed, double atol) {
    fx_model *m = u->m;
    fx_rng r;
    fx_rng_seed(&r, seed);
    /* Non-trivial BN affine, biases and alphas (init gives 1, 0, 0 and one alpha per layer). BN feeds a ReLU:
     * beta = +-(1.2..1.6)*gamma puts the channel's normalised values mostly on one side, about 1 in 10 on the
     * other, so ReLU masks inside a channel are exercised but few values sit near the kink. */
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info pi;
        OK(fx_model_param_info(ctx, m, i, &pi));
        for (int64_t j = 0; j < pi.len; j++) {
            if (pi.kind == FX_PARAM_GAMMA) pi.data[j] = 0.5f + fx_rng_uniform(&r);
            if (pi.kind == FX_PARAM_B) pi.data[j] = 0.3f * fx_rng_normal(&r);
            if (pi.kind == FX_PARAM_ALPHA) pi.data[j] = 0.2f + 0.5f * fx_rng_uniform(&r);
        }
        if (pi.kind == FX_PARAM_BETA && i > 0) {
            fx_param_info gi;
            OK(fx_model_param_info(ctx, m, i - 1, &gi)); /* a BN node's params: gamma, beta, rmean, rvar */
            for (int64_t j = 0; j < pi.len && gi.kind == FX_PARAM_GAMMA; j++)
                pi.data[j] = (j & 1 ? -1.0f : 1.0f) * (1.2f + 0.4f * fx_rng_uniform(&r)) * gi.data[j];
        }
    }
    fx_model_touch(m);
    float loss = 0.0f;
    OK(fx_model_forward(ctx, m, u->x, u->n, 1, NULL));
    OK(fx_model_backward(ctx, m, u->labels, u->teacher, (float)u->T, (float)u->a, &loss));
    u->npat = model_pattern(u, NULL);
    unsigned char *base = malloc((size_t)u->npat + 1), *pp_pat = malloc((size_t)u->npat + 1),
                  *pm_pat = malloc((size_t)u->npat + 1);
    u->pat = base;
    double l0 = model_loss(u);
    u->pat = NULL;
    FXT_CHECK(fabs(l0 - loss) <= 1e-5 * (1.0 + fabs(l0)), "%s: fx_model_backward loss %.8g, recomputed %.8g", name,
              (double)loss, l0);
    int checked = 0;
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info pi;
        OK(fx_model_param_info(ctx, m, i, &pi));
        if (!pi.trainable || !pi.grad || pi.kind == FX_PARAM_LAT) continue;
        float *ga = falloc((long)pi.len);
        memcpy(ga, pi.grad, sizeof(float) * (size_t)pi.len);
        double *num = dalloc((long)pi.len);
        long kept = 0, len = (long)pi.len;
        for (long e = 0; e < len; e++) {
            float *p = pi.data + e, s0 = *p;
            for (double h = 3e-3; h > 5e-4; h /= 3) {
                float pp = (float)(s0 + h), pm = (float)(s0 - h);
                *p = pp;
                u->pat = pp_pat;
                double lp = model_loss(u);
                *p = pm;
                u->pat = pm_pat;
                double lm = model_loss(u);
                u->pat = NULL;
                *p = s0;
                cur->evals += 2;
                if (memcmp(pp_pat, base, (size_t)u->npat) || memcmp(pm_pat, base, (size_t)u->npat)) continue;
                ga[kept] = ga[e]; /* compact: kept elements first */
                num[kept++] = (lp - lm) / ((double)pp - (double)pm);
                break;
            }
        }
        cur->skipped += len - kept;
        FXT_CHECK(kept * 4 >= len * 3, "%s %s: %ld of %ld elements straddle a kink at every step", name, pi.name,
                  len - kept, len);
        /* The conv bias in front of BN has an exactly-zero gradient (BN removes the channel mean). */
        int before_bn = pi.kind == FX_PARAM_B && feeds_bn(m, pi.node);
        compare(nm("%s %s", name, pi.name), ga, num, kept, atol, 2e-2, before_bn);
        free(ga); free(num);
        checked++;
    }
    fx_model_touch(m);
    free(base); free(pp_pat); free(pm_pat);
    FXT_CHECK(checked > 0, "%s: no parameters checked", name);
}

static void test_model(void) {
    /* input 2x6x6 -> conv 2->4 k3 p1 (+bias) -> bn -> relu -+-> add -> gap -> dense 4->3 (+bias) -> CE
     *         \----------------- shortcut A (2 -> 4, s 1) --/ */
    {
        fx_model *m = NULL;
        int c, b, rl, sc, ad, gp, d;
        OK(fx_model_new(ctx, &m, 2, 6, 6));
        if (!m) return;
        OK(fx_model_conv(ctx, m, 0, 4, 3, 1, 1, 1, NULL, &c));
        OK(fx_model_bn(ctx, m, c, &b));
        OK(fx_model_relu(ctx, m, b, &rl));
        OK(fx_model_shortcut(ctx, m, 0, 4, 1, &sc));
        OK(fx_model_add(ctx, m, rl, sc, &ad));
        OK(fx_model_gap(ctx, m, ad, &gp));
        OK(fx_model_dense(ctx, m, gp, 3, 1, NULL, &d));
        OK(fx_model_build(ctx, m, 3, 1));
        OK(fx_model_init_params(ctx, m, 11, 0.0f, 0.0f));
        fx_rng r;
        fx_rng_seed(&r, 12);
        float *x = normal_buf(&r, 3 * 2 * 6 * 6, 1.0f);
        int32_t labels[3] = {0, 2, 1};
        model_u u = {m, x, 3, 3, labels, NULL, 1.0, 0.0, NULL, 0};
        model_check("model1(CE)", &u, 13, 1e-4);
        free(x);
        fx_model_free(ctx, m);
    }
    /* input 3x7x7 -> conv 3->5 k3 s2 p1 -> bn -> relu -+-> add -> maxpool 2/2 -> FleXOR dense 20->4 (+bias)
     *         \------------- shortcut A (3 -> 5, s 2) --/                                     -> distillation */
    {
        fx_model *m = NULL;
        int c, b, rl, sc, ad, mp, d;
        fx_flexor_cfg fc = {10, 4, 2, 2, 21};
        OK(fx_model_new(ctx, &m, 3, 7, 7));
        if (!m) return;
        OK(fx_model_conv(ctx, m, 0, 5, 3, 2, 1, 0, NULL, &c));
        OK(fx_model_bn(ctx, m, c, &b));
        OK(fx_model_relu(ctx, m, b, &rl));
        OK(fx_model_shortcut(ctx, m, 0, 5, 2, &sc));
        OK(fx_model_add(ctx, m, rl, sc, &ad));
        OK(fx_model_maxpool(ctx, m, ad, 2, 2, &mp));
        OK(fx_model_dense(ctx, m, mp, 4, 1, &fc, &d));
        OK(fx_model_build(ctx, m, 4, 1));
        OK(fx_model_init_params(ctx, m, 22, 0.0f, 0.1f));
        fx_rng r;
        fx_rng_seed(&r, 23);
        float *x = normal_buf(&r, 4 * 3 * 7 * 7, 1.0f), *t = normal_buf(&r, 4 * 4, 2.0f);
        int32_t labels[4] = {3, 0, 1, 3};
        model_u u = {m, x, 4, 4, labels, t, 2.0, 0.5, NULL, 0};
        /* atol 1e-3: this loss (T^2-weighted KL, larger logits) has gradients up to ~30 and a float32 noise
         * of ~1e-6, i.e. ~2e-4 over 2h; still 1/60 of the largest conv-weight gradient (~2) */
        model_check("model2(distill)", &u, 24, 1e-3);
        free(x); free(t);
        fx_model_free(ctx, m);
    }
}

/* ---------------------------------------------------------------------------------------------------------
 * Driver
 * ------------------------------------------------------------------------------------------------------- */

static void run(const char *title, const char *stat, fxt_fn fn) {
    if (n_stats >= (int)(sizeof stats / sizeof stats[0])) { fxt_run(title, fn); return; }
    cur = &stats[n_stats++];
    memset(cur, 0, sizeof *cur);
    cur->name = stat;
    clock_t t0 = clock();
    fxt_run(title, fn);
    cur->secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cur = NULL;
}

void test_gradcheck(void) {
    fx_ctx_new(&ctx);
    n_stats = 0;
    verbose = getenv("FXT_GRADCHECK_VERBOSE") != NULL;
    clock_t t0 = clock();
    run("gradcheck: conv2d dx dw db (9 shapes)", "conv2d", test_conv);
    run("gradcheck: dense dx dw db", "dense", test_dense);
    run("gradcheck: batch norm train and eval, dx dgamma dbeta", "batchnorm", test_bn);
    run("gradcheck: global average pool", "gap", test_gap);
    run("gradcheck: option-A shortcut", "shortcut", test_shortcut);
    run("gradcheck: max pool", "maxpool", test_maxpool);
    run("gradcheck: relu", "relu", test_relu);
    run("gradcheck: softmax cross-entropy dz", "xent", test_xent);
    run("gradcheck: distillation dz", "distill", test_distill);
    run("gradcheck: FleXOR ANALOG dx vs FD of Eq. 3", "flexor ANALOG dx", test_flexor_analog);
    run("gradcheck: FleXOR FLEXOR dx vs FD of Eq. 6 surrogate", "flexor FLEXOR dx", test_flexor_eq6);
    run("gradcheck: FleXOR STE dx vs FD of the linear surrogate", "flexor STE dx", test_flexor_ste);
    run("gradcheck: FleXOR dalpha vs FD of the digital forward", "flexor dalpha", test_flexor_alpha);
    run("gradcheck: whole models (CE; distill + maxpool + FleXOR alpha)", "model", test_model);
    double total = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("\n  gradcheck: worst |analytic-FD| / max|FD| per tensor, worst |diff|/tolerance, FD evaluations:\n");
    for (int i = 0; i < n_stats; i++)
        printf("    %-18s %3ld tensors  rel %9.2e  tol-use %6.3f  %7ld evals  %6.3f s%s\n", stats[i].name,
               stats[i].tensors, stats[i].max_rel, stats[i].max_use, stats[i].evals, stats[i].secs,
               stats[i].skipped ? nm("  (%ld elements skipped: at a kink)", stats[i].skipped) : "");
    printf("    total %.3f s CPU\n", total);
    fx_ctx_free(ctx);
    ctx = NULL;
}
