/*
 * test_gemm.c - every available SGEMM variant against the scalar reference (src/kernels/gemm.h).
 *
 * Covers: all four ta/tb combinations, accumulate 0/1, awkward M/N/K (1..100 around the 6x16 / 4x8 register
 * tiles), K across the cache-block boundaries, M/N across the M and N block sizes, the ResNet-20/32 and LeNet-5
 * layer shapes, leading dimensions larger than needed, M/N/K = 0, and the dispatch API.
 * Memory discipline is checked too: A/B row padding holds NaN (a variant that reads it poisons C), C row padding
 * holds a sentinel that must survive, C holds NaN before an accumulate = 0 call (a variant that reads C fails),
 * and buffers end exactly at the last valid element (ASan / the wasm heap catch overreads). ws is 64-byte aligned.
 * Tolerance per element: |got - ref| <= 1e-5 + 1e-5 * (sum_k |A_ik||B_kj| + |C0_ij|).
 * Entry point: test_gemm() (called by the suite's runner, tests/c/fxtest.h).
 */
#include "../../src/kernels/gemm.h"
#include "fxtest.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 12345.0f

static uint64_t tg_state = 0x1234567887654321ull;
static int tg_ncases;

static float tg_uniform(void) /* in [-1, 1) */
{
    tg_state = tg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(tg_state >> 40) * (1.0 / 8388608.0) - 1.0);
}

/* rows x cols row-major with leading dimension ld; the buffer ends right after the last valid element.
 * Row padding is filled with `pad`. */
static float *tg_matrix(int rows, int cols, int ld, float pad)
{
    const size_t n = rows > 0 && cols > 0 ? (size_t)(rows - 1) * (size_t)ld + (size_t)cols : 1;
    float *m = malloc(n * sizeof(float));
    if (!m) return NULL;
    for (size_t i = 0; i < n; i++) m[i] = ((int)(i % (size_t)ld) < cols) ? tg_uniform() : pad;
    return m;
}

static int tg_ld(int cols, int salt)
{
    static const int extra[5] = {0, 1, 3, 7, 13};
    return cols + extra[(unsigned)salt % 5u];
}

/* One case: every non-scalar variant vs the scalar reference. Returns 0 if all passed. */
static int tg_case(int ta, int tb, int M, int N, int K, int acc, int salt, float *ws)
{
    const int ar = ta ? K : M, acols = ta ? M : K; /* stored shape of A */
    const int br = tb ? N : K, bcols = tb ? K : N;
    const int lda = tg_ld(acols, salt), ldb = tg_ld(bcols, salt + 1), ldc = tg_ld(N, salt + 2);
    float *A = tg_matrix(ar, acols, lda, NAN), *B = tg_matrix(br, bcols, ldb, NAN);
    float *C0 = tg_matrix(M, N, ldc, SENTINEL), *Cref = tg_matrix(M, N, ldc, SENTINEL);
    float *Cgot = tg_matrix(M, N, ldc, SENTINEL);
    int bad = 0;
    tg_ncases++;
    if (!A || !B || !C0 || !Cref || !Cgot) {
        FXT_CHECK(0, "gemm: out of memory");
        bad = 1;
        goto done;
    }
    const size_t cn = M > 0 && N > 0 ? (size_t)(M - 1) * (size_t)ldc + (size_t)N : 1;
    memcpy(Cref, C0, cn * sizeof(float));
    fx_sgemm__scalar(ta, tb, M, N, K, A, lda, B, ldb, Cref, ldc, acc, ws);

    static const fx_gemm_isa isas[] = {FX_GEMM_AVX2, FX_GEMM_WASMSIMD};
    for (size_t v = 0; v < sizeof isas / sizeof isas[0]; v++) {
        fx_sgemm_fn fn = fx_gemm_variant(isas[v]);
        if (!fn) continue;
        memcpy(Cgot, C0, cn * sizeof(float));
        if (!acc) /* C must not be read: poison the valid part */
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) Cgot[(size_t)i * (size_t)ldc + (size_t)j] = NAN;
        fn(ta, tb, M, N, K, A, lda, B, ldb, Cgot, ldc, acc, ws);
        int fails = 0, fi = -1, fj = -1;
        double worst = 0.0, wtol = 0.0;
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < ldc; j++) {
                const size_t ij = (size_t)i * (size_t)ldc + (size_t)j;
                if (ij >= cn) break;
                if (j >= N) { /* padding must be untouched */
                    if (Cgot[ij] != SENTINEL) {
                        if (!fails++) fi = i, fj = j, worst = INFINITY;
                    }
                    continue;
                }
                double s = acc ? fabs((double)C0[ij]) : 0.0;
                for (int k = 0; k < K; k++) {
                    const double a = ta ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k];
                    const double b = tb ? B[(size_t)j * (size_t)ldb + (size_t)k] : B[(size_t)k * (size_t)ldb + (size_t)j];
                    s += fabs(a * b);
                }
                const double tol = 1e-5 + 1e-5 * s, d = fabs((double)Cgot[ij] - (double)Cref[ij]);
                if (!(d <= tol)) { /* also catches NaN */
                    if (!fails++ || d > worst) fi = i, fj = j, worst = d, wtol = tol;
                }
            }
        }
        FXT_CHECK(fails == 0,
                  "gemm %s ta=%d tb=%d M=%d N=%d K=%d acc=%d lda=%d ldb=%d ldc=%d: %d bad elements, e.g. C[%d][%d] "
                  "got %g ref %g (|diff| %g > tol %g)",
                  fx_gemm_isa_name(isas[v]), ta, tb, M, N, K, acc, lda, ldb, ldc, fails, fi, fj,
                  fi >= 0 ? (double)Cgot[(size_t)fi * (size_t)ldc + (size_t)fj] : 0.0,
                  fi >= 0 ? (double)Cref[(size_t)fi * (size_t)ldc + (size_t)fj] : 0.0, worst, wtol);
        bad |= fails != 0;
    }
done:
    free(A);
    free(B);
    free(C0);
    free(Cref);
    free(Cgot);
    return bad;
}

/* Runs one shape in all 8 (ta, tb, accumulate) combinations. */
static int tg_all(int M, int N, int K, int salt, float *ws)
{
    int bad = 0;
    for (int c = 0; c < 8; c++) bad |= tg_case(c & 1, (c >> 1) & 1, M, N, K, c >> 2, salt + c, ws);
    return bad;
}

static void tg_zero_sizes(float *ws)
{
    /* K = 0: C = 0 (acc = 0) or untouched (acc = 1); M or N = 0: nothing touched. */
    static const fx_gemm_isa isas[] = {FX_GEMM_SCALAR, FX_GEMM_AVX2, FX_GEMM_WASMSIMD};
    float A[16], B[16], C[4 * 5];
    for (int i = 0; i < 16; i++) A[i] = B[i] = 1.0f;
    for (size_t v = 0; v < sizeof isas / sizeof isas[0]; v++) {
        fx_sgemm_fn fn = fx_gemm_variant(isas[v]);
        if (!fn) continue;
        const char *nm = fx_gemm_isa_name(isas[v]);
        for (int i = 0; i < 20; i++) C[i] = 7.0f;
        fn(0, 0, 3, 4, 0, A, 1, B, 4, C, 5, 0, ws);
        int ok = 1;
        for (int i = 0; i < 20; i++) ok &= C[i] == ((i % 5 < 4 && i < 15) ? 0.0f : 7.0f);
        FXT_CHECK(ok, "gemm %s: K=0, acc=0 must zero exactly the M x N part of C", nm);
        for (int i = 0; i < 20; i++) C[i] = 7.0f;
        fn(1, 1, 3, 4, 0, A, 3, B, 1, C, 5, 1, ws);
        ok = 1;
        for (int i = 0; i < 20; i++) ok &= C[i] == 7.0f;
        FXT_CHECK(ok, "gemm %s: K=0, acc=1 must leave C alone", nm);
        fn(0, 0, 0, 4, 3, A, 3, B, 4, C, 5, 0, ws);
        fn(0, 0, 3, 0, 3, A, 3, B, 4, C, 5, 0, ws);
        fn(0, 0, 0, 0, 0, A, 3, B, 4, C, 5, 0, ws);
        ok = 1;
        for (int i = 0; i < 20; i++) ok &= C[i] == 7.0f;
        FXT_CHECK(ok, "gemm %s: M=0 or N=0 must leave C alone", nm);
    }
}

static void tg_dispatch(float *ws)
{
    const fx_gemm_isa chosen = fx_gemm_init();
    FXT_CHECK(chosen != FX_GEMM_AUTO && fx_gemm_variant(chosen) != NULL, "gemm: fx_gemm_init picked %d", (int)chosen);
    FXT_CHECK(fx_gemm_init() == chosen, "gemm: fx_gemm_init is not idempotent");
    FXT_CHECK(fx_gemm_variant(FX_GEMM_SCALAR) == fx_sgemm__scalar, "gemm: scalar variant missing");
    FXT_CHECK(fx_gemm_use(FX_GEMM_SCALAR) == 0 && strcmp(fx_gemm_name(), "scalar") == 0, "gemm: fx_gemm_use(scalar)");
    static const fx_gemm_isa isas[] = {FX_GEMM_AVX2, FX_GEMM_WASMSIMD};
    for (size_t v = 0; v < sizeof isas / sizeof isas[0]; v++) {
        const int avail = fx_gemm_variant(isas[v]) != NULL;
        const int r = fx_gemm_use(isas[v]);
        FXT_CHECK(r == (avail ? 0 : -1), "gemm: fx_gemm_use(%s) returned %d", fx_gemm_isa_name(isas[v]), r);
        if (avail) {
            FXT_CHECK(strcmp(fx_gemm_name(), fx_gemm_isa_name(isas[v])) == 0, "gemm: fx_gemm_name() = %s",
                      fx_gemm_name());
            /* the dispatched entry point runs the active variant */
            float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 2, 1, 0, 3}, C[4], R[4] = {5, 11, 14, 23};
            fx_sgemm(0, 0, 2, 2, 3, A, 3, B, 2, C, 2, 0, ws); /* [1 2 3; 4 5 6] * [1 0; 2 1; 0 3] */
            fxt_close("gemm fx_sgemm 2x3x2", C, R, 4, 1e-6, 0.0);
        }
    }
    FXT_CHECK(fx_gemm_use(chosen) == 0 && fx_gemm_init() == chosen, "gemm: restoring %s", fx_gemm_isa_name(chosen));
#if defined(__x86_64__)
    if (fx_gemm_variant(FX_GEMM_AVX2)) FXT_CHECK(chosen == FX_GEMM_AVX2, "gemm: AVX2 available but not chosen");
#endif
#if defined(__wasm_simd128__)
    FXT_CHECK(chosen == FX_GEMM_WASMSIMD, "gemm: simd128 build must choose wasmsimd");
#endif
}

void test_gemm(void)
{
    float *ws = aligned_alloc(64, (size_t)FX_GEMM_WS_FLOATS * sizeof(float));
    FXT_CHECK(ws != NULL, "gemm: cannot allocate ws");
    if (!ws) return;
    for (int v = 0; v < 3; v++) printf("  gemm variant %-8s %s\n", fx_gemm_isa_name((fx_gemm_isa)(v + 1)),
                                       fx_gemm_variant((fx_gemm_isa)(v + 1)) ? "available" : "not available");
    tg_dispatch(ws);
    tg_zero_sizes(ws);

    /* Awkward M x N around the register tiles, K cycling through a few values, every ta/tb/acc combination. */
    static const int sz[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100};
    static const int ks[] = {1, 3, 9, 17, 64, 100, 2, 33};
    const int nsz = (int)(sizeof sz / sizeof sz[0]), nks = (int)(sizeof ks / sizeof ks[0]);
    int bad = 0;
    tg_ncases = 0;
    for (int im = 0; im < nsz; im++)
        for (int in = 0; in < nsz; in++)
            for (int c = 0; c < 8; c++)
                bad |= tg_case(c & 1, (c >> 1) & 1, sz[im], sz[in], ks[(im * 3 + in + c) % nks], c >> 2, im + in + c, ws);

    /* K across the k-block boundaries (AVX2: KC_MAX 384, dot path from K = 256; wasm: 256) and the packers' 4/8-wide
     * transposes. */
    static const int kk[] = {2, 4, 5, 7, 8, 15, 16, 31, 63, 65, 383, 384, 385, 767, 769, 1153};
    for (size_t i = 0; i < sizeof kk / sizeof kk[0]; i++) bad |= tg_all(7, 19, kk[i], (int)i, ws);
    /* M across the m-block (96 / 6 rows), N across the n-block (what ws leaves). */
    bad |= tg_all(197, 23, 40, 1, ws);
    bad |= tg_all(13, 1500, 300, 2, ws);
    bad |= tg_all(101, 517, 390, 3, ws);
    bad |= tg_case(0, 0, 130, 1100, 300, 0, 4, ws); /* several M blocks and several N blocks */
    bad |= tg_case(1, 1, 130, 1100, 300, 1, 5, ws);
    bad |= tg_case(0, 1, 200, 37, 1100, 0, 6, ws); /* AVX2 dot-product path with several M blocks */
    bad |= tg_case(0, 1, 200, 37, 1100, 1, 7, ws);

    /* The shapes of the nets (ResNet-20/32 im2col convs, LeNet-5 convs and dense, batch-folded conv). */
    static const int shapes[][3] = {
        {16, 1024, 144}, {32, 256, 288}, {64, 64, 576}, {16, 1024, 27}, {32, 256, 144}, {64, 64, 288},
        {32, 784, 25},   {64, 196, 800}, {64, 512, 3136}, {64, 3136, 512}, {512, 3136, 64}, {64, 10, 512},
        {16, 8192, 144},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        /* the transpose combination each layer uses, plus one more to keep the run short */
        bad |= tg_case(0, 0, shapes[i][0], shapes[i][1], shapes[i][2], 0, (int)i, ws);
        bad |= tg_case((int)i & 1, ((int)i >> 1) & 1, shapes[i][0], shapes[i][1], shapes[i][2], 1, (int)i + 7, ws);
    }
    bad |= tg_case(0, 1, 16, 144, 1024, 1, 0, ws); /* ResNet weight gradient dW += dY * col^T */
    bad |= tg_case(1, 0, 144, 1024, 16, 0, 1, ws); /* ResNet input gradient dcol = W^T dY */
    bad |= tg_case(0, 1, 64, 512, 3136, 0, 2, ws); /* LeNet FC1 forward */
    bad |= tg_case(1, 0, 512, 3136, 64, 1, 3, ws); /* LeNet FC1 dW += dY^T X */
    printf("  gemm: %d cases %s\n", tg_ncases, bad ? "had failures" : "ok");
    free(ws);
}
