/*
 * gemm_avx2.c - fx_sgemm__avx2: SGEMM for x86-64 with AVX2 + FMA (contract: gemm.h).
 *
 * Compiled with plain -O3 on any x86-64 gcc/clang: every function carries __attribute__((target("avx2,fma")))
 * and gemm.c only calls fx_sgemm__avx2 when __builtin_cpu_supports("avx2") && ("fma"). Other targets
 * (wasm, arm) compile this file to nothing. Single-threaded; callers split work by rows / columns.
 *
 * Three paths:
 *  1. ta = 0, tb = 1 with K >= FX_DOT_MINK (or N <= 8): dot-product kernel fx_sgemm__avx2_dot3x4, no packing
 *     (both operands are contiguous along K: weight gradients dW = dY * col^T, dense forward x * W^T);
 *     K blocks of <= FX_DOT_KC, M blocks of A rows that stay in L2 while every 4-row tile of B sweeps them.
 *  2. M <= MC_MAX (one M block; conv forward / input-gradient-sized problems): op(A) packed once per K block,
 *     op(B) streamed panel by panel - read in place when tb = 0 (with software prefetch when B is large),
 *     packed just in time into an L1-resident panel when tb = 1.
 *  3. General Goto / BLIS blocking:
 *       for jc over N in blocks of nc          (nc: what ws leaves after the packed A block)
 *         for pc over K in blocks of kc        (kc <= KC_MAX, K split evenly)
 *           pack op(B)[pc:pc+kc, jc:jc+nc] -> Bp[NR-column panels][kc][NR], zero padded
 *           for ic over M in blocks of mc      (mc <= MC_MAX, a multiple of MR)
 *             pack op(A)[ic:ic+mc, pc:pc+kc] -> Ap[MR-row panels][kc][MR], zero padded
 *             for each NR panel, for each MR panel: micro-kernel fx_sgemm__avx2_6x16
 * Micro-kernel 6x16: 12 ymm accumulators; per k two B loads, six A broadcasts, twelve FMAs (about 90% of the
 * FMA peak with data in L1). Partial rows use instances for mr = 1..6 (no wasted FMAs); partial columns use
 * zero-padded B panels and masked C loads/stores. Packing uses 8x8 register transposes for the strided cases.
 * The first K block overwrites C when accumulate == 0, so C is never read then.
 * No allocation, no mutable static data (scratch = the caller's ws, 64-byte aligned); A, B and C are only
 * accessed inside their valid M x K / K x N / M x N parts (masked loads never touch masked-off lanes).
 */
#include "gemm.h" /* (outside the #if: keeps the translation unit non-empty on other targets) */

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* Tuning knobs (measured on a Xeon with 48 KiB L1d / 2 MiB L2): the dot-product path (below) takes ta=0,tb=1
 * problems with K >= FX_DOT_MINK or N <= 8, in K blocks of at most FX_DOT_KC. */
#ifndef FX_DOT_KC
#define FX_DOT_KC 2048
#endif
#ifndef FX_DOT_MINK
#define FX_DOT_MINK 256
#endif
#define FX_AVX2 __attribute__((target("avx2,fma")))
#define FX_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

enum {
    MR = 6,
    NR = 16,
    KC_MAX = 384,
    MC_MAX = 96, /* multiple of MR */
    DOT_KC_MAX = FX_DOT_KC,
    DOT_A_FLOATS = 192 * 1024,
    A_SLACK = 16 /* floats after the packed A block: packing writes whole ymm rows that may overhang by 2 */
};

/* Lane mask of the first n (0..8) lanes. */
FX_AVX2_INLINE __m256i lane_mask(int n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

FX_AVX2_INLINE void transpose8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Packing.                                                                                                   */

/* op(A) block of mc x kc (rows i, cols k) -> Ap[mc/MR panels][kc][MR]. get(i,k) = ta ? A[k*lda+i] : A[i*lda+k]. */
static FX_AVX2 void pack_a(int ta, int mc, int kc, const float *A, size_t lda, float *Ap)
{
    for (int i0 = 0; i0 < mc; i0 += MR, Ap += (size_t)MR * (size_t)kc) {
        const int mr = mc - i0 < MR ? mc - i0 : MR;
        if (ta) {
            /* row k of the panel is contiguous in A: one masked load, one (overhanging) store */
            const __m256i m = lane_mask(mr);
            const float *src = A + (size_t)i0;
            for (int k = 0; k < kc; k++) _mm256_storeu_ps(Ap + (size_t)k * MR, _mm256_maskload_ps(src + (size_t)k * lda, m));
        } else {
            const float *rows[MR];
            for (int r = 0; r < MR; r++) rows[r] = A + (size_t)(i0 + (r < mr ? r : 0)) * lda;
            int k = 0;
            for (; k + 8 <= kc; k += 8) {
                __m256 t[8];
                for (int r = 0; r < MR; r++) t[r] = r < mr ? _mm256_loadu_ps(rows[r] + k) : _mm256_setzero_ps();
                t[6] = t[7] = _mm256_setzero_ps();
                transpose8(t);
                /* increasing order: lanes 6,7 (zeros) overhang into the next k and are overwritten */
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(Ap + (size_t)(k + q) * MR, t[q]);
            }
            for (; k < kc; k++)
                for (int r = 0; r < MR; r++) Ap[(size_t)k * MR + (size_t)r] = r < mr ? rows[r][k] : 0.0f;
        }
    }
}

/* op(B) block of kc x nc (rows k, cols j) -> Bp[nc/NR panels][kc][NR]. get(k,j) = tb ? B[j*ldb+k] : B[k*ldb+j]. */
static FX_AVX2 void pack_b(int tb, int kc, int nc, const float *B, size_t ldb, float *Bp)
{
    for (int j0 = 0; j0 < nc; j0 += NR, Bp += (size_t)NR * (size_t)kc) {
        const int nr = nc - j0 < NR ? nc - j0 : NR;
        if (!tb) {
            const float *src = B + (size_t)j0;
            if (nr == NR) {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (size_t)k * ldb;
                    _mm256_storeu_ps(Bp + (size_t)k * NR, _mm256_loadu_ps(s));
                    _mm256_storeu_ps(Bp + (size_t)k * NR + 8, _mm256_loadu_ps(s + 8));
                }
            } else {
                const __m256i m0 = lane_mask(nr), m1 = lane_mask(nr - 8);
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (size_t)k * ldb;
                    _mm256_storeu_ps(Bp + (size_t)k * NR, _mm256_maskload_ps(s, m0));
                    _mm256_storeu_ps(Bp + (size_t)k * NR + 8, _mm256_maskload_ps(s + 8, m1));
                }
            }
        } else {
            const float *rows[NR];
            for (int r = 0; r < NR; r++) rows[r] = B + (size_t)(j0 + (r < nr ? r : 0)) * ldb;
            int k = 0;
            for (; k + 8 <= kc; k += 8) {
                for (int h = 0; h < 2; h++) {
                    __m256 t[8];
                    for (int r = 0; r < 8; r++)
                        t[r] = h * 8 + r < nr ? _mm256_loadu_ps(rows[h * 8 + r] + k) : _mm256_setzero_ps();
                    transpose8(t);
                    for (int q = 0; q < 8; q++) _mm256_storeu_ps(Bp + (size_t)(k + q) * NR + (size_t)h * 8, t[q]);
                }
            }
            for (; k < kc; k++)
                for (int r = 0; r < NR; r++) Bp[(size_t)k * NR + (size_t)r] = r < nr ? rows[r][k] : 0.0f;
        }
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Micro-kernel: C[0:mr][0:nr] (+)= Ap (kc x MR panel) * Bp (kc x NR panel). mr is a compile-time constant
 * after inlining; nr < NR uses masked C accesses. load_c: add to C (else overwrite). */

FX_AVX2_INLINE void ukr_6x16(const int mr, int kc, const float *a, const float *b, size_t bstride, float *c,
                             size_t ldc, int nr, int load_c, const float *pf)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();

#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        if (pf) _mm_prefetch((const char *)(pf + (size_t)k * bstride), _MM_HINT_T0);
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                const __m256 av = _mm256_broadcast_ss(a + r);
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
        a += MR;
        b += bstride;
    }

    if (nr == NR) {
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                float *cr = c + (size_t)r * ldc;
                __m256 v0 = acc[r][0], v1 = acc[r][1];
                if (load_c) {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));
                }
                _mm256_storeu_ps(cr, v0);
                _mm256_storeu_ps(cr + 8, v1);
            }
        }
    } else {
        const __m256i m0 = lane_mask(nr), m1 = lane_mask(nr - 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                float *cr = c + (size_t)r * ldc;
                __m256 v0 = acc[r][0], v1 = acc[r][1];
                if (load_c) {
                    v0 = _mm256_add_ps(v0, _mm256_maskload_ps(cr, m0));
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(cr + 8, m1));
                }
                _mm256_maskstore_ps(cr, m0, v0);
                _mm256_maskstore_ps(cr + 8, m1, v1);
            }
        }
    }
}

#define FX_UKR_INSTANCE(R) \
    static FX_AVX2 void fx_sgemm__avx2_##R##x16(int kc, const float *a, const float *b, size_t bstride, float *c, \
                                                size_t ldc, int nr, int load_c, const float *pf) \
    { \
        if (pf) \
            ukr_6x16(R, kc, a, b, bstride, c, ldc, nr, load_c, pf); \
        else \
            ukr_6x16(R, kc, a, b, bstride, c, ldc, nr, load_c, NULL); \
    }
FX_UKR_INSTANCE(1)
FX_UKR_INSTANCE(2)
FX_UKR_INSTANCE(3)
FX_UKR_INSTANCE(4)
FX_UKR_INSTANCE(5)
FX_UKR_INSTANCE(6)
#undef FX_UKR_INSTANCE

typedef void (*ukr_fn)(int kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc, int nr,
                       int load_c, const float *pf);

/* ---------------------------------------------------------------------------------------------------------- */
/* Dot-product path for ta = 0, tb = 1 (C = A * B^T, both operands contiguous along K, e.g. weight gradients
 * dW = dY * col^T and dense forward x * W^T). Nothing is packed: the kernel fx_sgemm__avx2_dot3x4 keeps 3 rows
 * of A x 4 rows of B = 12 ymm accumulators of 8 partial sums each, streams both along k (7 loads per 12 FMAs),
 * and reduces horizontally once per K block. Edge tiles recompute a valid row (clamped pointers) and store only
 * the valid part. */

enum { DOT_MR = 3, DOT_NR = 4 };

FX_AVX2_INLINE __m128 hsum4(__m256 x0, __m256 x1, __m256 x2, __m256 x3)
{
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(x0, x1), _mm256_hadd_ps(x2, x3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1)); /* (sum x0, sum x1, sum x2, sum x3) */
}

static FX_AVX2 void fx_sgemm__avx2_dot3x4(int kc, const float *a0, const float *a1, const float *a2, const float *b0,
                                          const float *b1, const float *b2, const float *b3, float *c, size_t ldc,
                                          int mr, int nr, int load_c)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
           c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    int k = 0;
#define FX_DOT_STEP(LOAD) \
    do { \
        const __m256 x0 = LOAD(a0 + k), x1 = LOAD(a1 + k), x2 = LOAD(a2 + k); \
        __m256 y = LOAD(b0 + k); \
        c00 = _mm256_fmadd_ps(x0, y, c00), c10 = _mm256_fmadd_ps(x1, y, c10), c20 = _mm256_fmadd_ps(x2, y, c20); \
        y = LOAD(b1 + k); \
        c01 = _mm256_fmadd_ps(x0, y, c01), c11 = _mm256_fmadd_ps(x1, y, c11), c21 = _mm256_fmadd_ps(x2, y, c21); \
        y = LOAD(b2 + k); \
        c02 = _mm256_fmadd_ps(x0, y, c02), c12 = _mm256_fmadd_ps(x1, y, c12), c22 = _mm256_fmadd_ps(x2, y, c22); \
        y = LOAD(b3 + k); \
        c03 = _mm256_fmadd_ps(x0, y, c03), c13 = _mm256_fmadd_ps(x1, y, c13), c23 = _mm256_fmadd_ps(x2, y, c23); \
    } while (0)
#pragma GCC unroll 2
    for (; k + 8 <= kc; k += 8) FX_DOT_STEP(_mm256_loadu_ps);
    if (k < kc) {
        const __m256i m = lane_mask(kc - k);
#define FX_MASKLOAD(p) _mm256_maskload_ps((p), m)
        FX_DOT_STEP(FX_MASKLOAD);
#undef FX_MASKLOAD
    }
#undef FX_DOT_STEP
    const __m128 r0 = hsum4(c00, c01, c02, c03), r1 = hsum4(c10, c11, c12, c13), r2 = hsum4(c20, c21, c22, c23);
    const __m128i m4 = _mm_cmpgt_epi32(_mm_set1_epi32(nr), _mm_setr_epi32(0, 1, 2, 3));
    const __m128 rows[DOT_MR] = {r0, r1, r2};
    for (int r = 0; r < mr; r++) {
        float *cr = c + (size_t)r * ldc;
        __m128 v = rows[r];
        if (nr == DOT_NR) {
            if (load_c) v = _mm_add_ps(v, _mm_loadu_ps(cr));
            _mm_storeu_ps(cr, v);
        } else {
            if (load_c) v = _mm_add_ps(v, _mm_maskload_ps(cr, m4));
            _mm_maskstore_ps(cr, m4, v);
        }
    }
}

static FX_AVX2 void sgemm_avx2_dot(int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb,
                                   float *C, size_t ldc, int accumulate)
{
    /* K blocks: the A block (M x kc) and one B tile (4 x kc) should stay in L1/L2 */
    const int kb = (K + DOT_KC_MAX - 1) / DOT_KC_MAX;
    const int kcb = (K + kb - 1) / kb;
    /* M blocks: the rows of A swept for each B tile stay in L2 (about 768 KiB of them) */
    int mbr = DOT_A_FLOATS / kcb / DOT_MR * DOT_MR;
    if (mbr < DOT_MR) mbr = DOT_MR;
    if (mbr >= M) mbr = M;
    else mbr = (M + (M + mbr - 1) / mbr - 1) / ((M + mbr - 1) / mbr); /* even split */
    for (int pc = 0; pc < K; pc += kcb) {
        const int kc = K - pc < kcb ? K - pc : kcb;
        const int load_c = accumulate || pc > 0;
        for (int i0 = 0; i0 < M; i0 += mbr) {
            const int i1 = M - i0 < mbr ? M : i0 + mbr;
            for (int j = 0; j < N; j += DOT_NR) {
                const int nr = N - j < DOT_NR ? N - j : DOT_NR;
                const float *b0 = B + (size_t)j * ldb + (size_t)pc;
                const float *b1 = nr > 1 ? b0 + ldb : b0, *b2 = nr > 2 ? b0 + 2 * ldb : b0;
                const float *b3 = nr > 3 ? b0 + 3 * ldb : b0;
                for (int i = i0; i < i1; i += DOT_MR) {
                    const int mr = i1 - i < DOT_MR ? i1 - i : DOT_MR;
                    const float *a0 = A + (size_t)i * lda + (size_t)pc;
                    const float *a1 = mr > 1 ? a0 + lda : a0, *a2 = mr > 2 ? a0 + 2 * lda : a0;
                    fx_sgemm__avx2_dot3x4(kc, a0, a1, a2, b0, b1, b2, b3, C + (size_t)i * ldc + (size_t)j, ldc, mr,
                                          nr, load_c);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Driver.                                                                                                    */

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

FX_AVX2 void fx_sgemm__avx2(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc, int accumulate, float *ws)
{
    static const ukr_fn ukr[MR + 1] = {0,
                                       fx_sgemm__avx2_1x16,
                                       fx_sgemm__avx2_2x16,
                                       fx_sgemm__avx2_3x16,
                                       fx_sgemm__avx2_4x16,
                                       fx_sgemm__avx2_5x16,
                                       fx_sgemm__avx2_6x16};
    if (M <= 0 || N <= 0) return;
    const size_t sldc = (size_t)ldc, slda = (size_t)lda, sldb = (size_t)ldb;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(size_t)i * sldc + (size_t)j] = 0.0f;
        return;
    }

    if (!ta && tb && (K >= FX_DOT_MINK || N <= 8)) {
        sgemm_avx2_dot(M, N, K, A, slda, B, sldb, C, sldc, accumulate);
        return;
    }

    /* K is split evenly into blocks of <= KC_MAX, M into blocks of <= MC_MAX rows (a multiple of MR). */
    const int kb = ceil_div(K, KC_MAX);
    const int kcb = ceil_div(K, kb);
    const int mb = ceil_div(M, MC_MAX);
    const int mcb = ceil_div(ceil_div(M, mb), MR) * MR;
    const size_t a_floats = ((size_t)mcb * (size_t)kcb + A_SLACK + 15) & ~(size_t)15;
    float *Ap = ws, *Bp = ws + a_floats;

    if (mb == 1) {
        /* One M block (conv forward / weight-gradient shapes): pack all of op(A) once per K block, then stream
         * op(B) panel by panel. tb == 0: full NR-wide panels are read in place (row stride ldb) - packing them
         * would only add a copy, since each panel is used by one sweep of consecutive kernels; when B is larger
         * than about half of L2 (2 MiB per core on current Xeons) the first kernel of a sweep prefetches the next
         * panel. tb == 1 (and partial panels): the panel is packed into a small buffer that stays in L1. */
        const int prefetch_b = !tb && (size_t)K * (size_t)N > ((size_t)256 << 10);
        for (int pc = 0; pc < K; pc += kcb) {
            const int kc = K - pc < kcb ? K - pc : kcb;
            const int load_c = accumulate || pc > 0;
            pack_a(ta, M, kc, ta ? A + (size_t)pc * slda : A + (size_t)pc, slda, Ap);
            for (int jr = 0; jr < N; jr += NR) {
                const int nr = N - jr < NR ? N - jr : NR;
                const float *bsrc = tb ? B + (size_t)jr * sldb + (size_t)pc : B + (size_t)pc * sldb + (size_t)jr;
                const float *bp = Bp, *pf = NULL;
                size_t bstride = NR;
                if (!tb && nr == NR) {
                    bp = bsrc, bstride = sldb;
                    if (prefetch_b && jr + 2 * NR <= N) pf = bsrc + NR;
                } else {
                    pack_b(tb, kc, nr, bsrc, sldb, Bp);
                }
                for (int ir = 0; ir < M; ir += MR) {
                    const int mr = M - ir < MR ? M - ir : MR;
                    ukr[mr](kc, Ap + (size_t)ir * (size_t)kc, bp, bstride, C + (size_t)ir * sldc + (size_t)jr, sldc,
                            nr, load_c, ir == 0 ? pf : NULL);
                }
            }
        }
        return;
    }

    /* General case: op(B) blocks of kc x nc (nc: what ws has left) packed once, reused by every M block. */
    int ncb = (int)(((size_t)FX_GEMM_WS_FLOATS - a_floats) / (size_t)kcb) / NR * NR;
    if (ncb > N) ncb = ceil_div(N, NR) * NR;
    for (int jc = 0; jc < N; jc += ncb) {
        const int nc = N - jc < ncb ? N - jc : ncb;
        for (int pc = 0; pc < K; pc += kcb) {
            const int kc = K - pc < kcb ? K - pc : kcb;
            const int load_c = accumulate || pc > 0;
            pack_b(tb, kc, nc, tb ? B + (size_t)jc * sldb + (size_t)pc : B + (size_t)pc * sldb + (size_t)jc, sldb, Bp);
            for (int ic = 0; ic < M; ic += mcb) {
                const int mc = M - ic < mcb ? M - ic : mcb;
                pack_a(ta, mc, kc, ta ? A + (size_t)pc * slda + (size_t)ic : A + (size_t)ic * slda + (size_t)pc, slda, Ap);
                for (int jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    const float *bp = Bp + (size_t)jr * (size_t)kc;
                    float *cc = C + (size_t)ic * sldc + (size_t)(jc + jr);
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        ukr[mr](kc, Ap + (size_t)ir * (size_t)kc, bp, NR, cc + (size_t)ir * sldc, sldc, nr, load_c, NULL);
                    }
                }
            }
        }
    }
}
#endif /* __x86_64__ */
