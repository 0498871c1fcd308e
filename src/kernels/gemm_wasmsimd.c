/*
 * gemm_wasmsimd.c - fx_sgemm__wasmsimd: SGEMM for WebAssembly SIMD128 (contract: gemm.h).
 *
 * Only compiled into builds made with -msimd128 (__wasm_simd128__); otherwise this file is empty and gemm.c
 * falls back to the scalar variant. Baseline simd128 has no FMA, so the inner product is f32x4 mul + add
 * (results differ from the scalar reference only by rounding order). Single-threaded.
 *
 * Two paths (as in gemm_avx2.c):
 *  1. M <= MC_MAX (one M block): op(A) packed once per K block, op(B) packed panel by panel just in time into
 *     an L1-resident buffer (read in place when tb = 0 and B is small).
 *  2. General Goto / BLIS blocking: for jc (nc from what ws leaves), for pc (kc <= KC_MAX, K split evenly):
 *     pack the op(B) block as NR-column panels Bp[panel][k][NR]; for ic (mc <= MC_MAX): pack op(A) as MR-row
 *     panels Ap[panel][k][MR]; micro-kernel on every (MR panel, NR panel) pair. Panels are zero padded.
 * Micro-kernel ukr_<mr>, MR x NR = FX_WASM_MR x FX_WASM_NR = 4x8: 8 v128 accumulators; per k two B
 * loads, four A splats (v128.load32_splat), eight f32x4 mul + add. V8 on x64 turns it into vbroadcastss /
 * vmulps / vaddps with no spills (it has 15 allocatable xmm registers); on a Golden-Cove-class Xeon this runs at
 * ~35 GFLOP/s, the bound of 3 ports for mul+add (4x12, 5x8, 6x8, 3x16 measured the same or slower; 4x8 fits the
 * nets' M and N exactly). Partial rows use kernel instances for mr = 1..MR; partial columns compute a full tile
 * into a local array and copy the valid part. The first K block overwrites C when accumulate == 0 (C not read).
 * No allocation, no mutable static data; A, B, C are only accessed inside their valid parts.
 */
#include "gemm.h" /* (outside the #if: keeps the translation unit non-empty on other targets) */

#if defined(__wasm_simd128__)

#include <stddef.h>
#include <wasm_simd128.h>

#ifndef FX_WASM_MR
#define FX_WASM_MR 4
#endif
#ifndef FX_WASM_NR
#define FX_WASM_NR 8
#endif

enum {
    MR = FX_WASM_MR,
    NR = FX_WASM_NR, /* multiple of 4 */
    NV = FX_WASM_NR / 4,
    KC_MAX = 256,
    MC_MAX = 16 * FX_WASM_MR,
};

#define FX_INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------------------------------------------------- */
/* Packing.                                                                                                   */

FX_INLINE void transpose4(v128_t *r0, v128_t *r1, v128_t *r2, v128_t *r3)
{
    const v128_t t0 = wasm_i32x4_shuffle(*r0, *r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*r0, *r1, 2, 6, 3, 7);
    const v128_t t2 = wasm_i32x4_shuffle(*r2, *r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(*r2, *r3, 2, 6, 3, 7);
    *r0 = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    *r1 = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    *r2 = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    *r3 = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}

/* op(A) block mc x kc -> Ap[panels of MR rows][kc][MR]. get(i,k) = ta ? A[k*lda+i] : A[i*lda+k]. */
static void pack_a(int ta, int mc, int kc, const float *A, size_t lda, float *Ap)
{
    for (int i0 = 0; i0 < mc; i0 += MR, Ap += (size_t)MR * (size_t)kc) {
        const int mr = mc - i0 < MR ? mc - i0 : MR;
        if (ta) {
            const float *src = A + (size_t)i0;
            if (mr == MR) {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (size_t)k * lda;
                    float *d = Ap + (size_t)k * MR;
                    int r = 0;
                    for (; r + 4 <= MR; r += 4) wasm_v128_store(d + r, wasm_v128_load(s + r));
                    for (; r < MR; r++) d[r] = s[r];
                }
            } else {
                for (int k = 0; k < kc; k++)
                    for (int r = 0; r < MR; r++) Ap[(size_t)k * MR + (size_t)r] = r < mr ? src[(size_t)k * lda + (size_t)r] : 0.0f;
            }
        } else if (MR % 4 == 0 && mr == MR) {
            /* 4x4 register transposes: 4 rows x 4 k -> 4 k-rows of 4 lanes each */
            for (int r0 = 0; r0 < MR; r0 += 4) {
                const float *s0 = A + (size_t)(i0 + r0) * lda, *s1 = s0 + lda, *s2 = s1 + lda, *s3 = s2 + lda;
                int k = 0;
                for (; k + 4 <= kc; k += 4) {
                    v128_t x0 = wasm_v128_load(s0 + k), x1 = wasm_v128_load(s1 + k), x2 = wasm_v128_load(s2 + k),
                           x3 = wasm_v128_load(s3 + k);
                    transpose4(&x0, &x1, &x2, &x3);
                    float *d = Ap + (size_t)k * MR + (size_t)r0;
                    wasm_v128_store(d, x0);
                    wasm_v128_store(d + MR, x1);
                    wasm_v128_store(d + 2 * MR, x2);
                    wasm_v128_store(d + 3 * MR, x3);
                }
                for (; k < kc; k++) {
                    float *d = Ap + (size_t)k * MR + (size_t)r0;
                    d[0] = s0[k], d[1] = s1[k], d[2] = s2[k], d[3] = s3[k];
                }
            }
        } else {
            for (int r = 0; r < MR; r++) {
                const float *s = A + (size_t)(i0 + r) * lda;
                float *d = Ap + (size_t)r;
                if (r < mr)
                    for (int k = 0; k < kc; k++) d[(size_t)k * MR] = s[k];
                else
                    for (int k = 0; k < kc; k++) d[(size_t)k * MR] = 0.0f;
            }
        }
    }
}

/* op(B) block kc x nc -> Bp[panels of NR cols][kc][NR]. get(k,j) = tb ? B[j*ldb+k] : B[k*ldb+j]. */
static void pack_b(int tb, int kc, int nc, const float *B, size_t ldb, float *Bp)
{
    for (int j0 = 0; j0 < nc; j0 += NR, Bp += (size_t)NR * (size_t)kc) {
        const int nr = nc - j0 < NR ? nc - j0 : NR;
        if (!tb) {
            const float *src = B + (size_t)j0;
            if (nr == NR) {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (size_t)k * ldb;
                    float *d = Bp + (size_t)k * NR;
#pragma clang loop unroll(full)
                    for (int v = 0; v < NV; v++) wasm_v128_store(d + 4 * v, wasm_v128_load(s + 4 * v));
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    const float *s = src + (size_t)k * ldb;
                    float *d = Bp + (size_t)k * NR;
                    int j = 0;
                    for (; j + 4 <= nr; j += 4) wasm_v128_store(d + j, wasm_v128_load(s + j));
                    for (; j < nr; j++) d[j] = s[j];
                    for (; j < NR; j++) d[j] = 0.0f;
                }
            }
        } else if (nr == NR) {
            /* NR rows of B (one per output column), contiguous in k: 4x4 transposes */
            for (int c0 = 0; c0 < NR; c0 += 4) {
                const float *s0 = B + (size_t)(j0 + c0) * ldb, *s1 = s0 + ldb, *s2 = s1 + ldb, *s3 = s2 + ldb;
                int k = 0;
                for (; k + 4 <= kc; k += 4) {
                    v128_t x0 = wasm_v128_load(s0 + k), x1 = wasm_v128_load(s1 + k), x2 = wasm_v128_load(s2 + k),
                           x3 = wasm_v128_load(s3 + k);
                    transpose4(&x0, &x1, &x2, &x3);
                    float *d = Bp + (size_t)k * NR + (size_t)c0;
                    wasm_v128_store(d, x0);
                    wasm_v128_store(d + NR, x1);
                    wasm_v128_store(d + 2 * NR, x2);
                    wasm_v128_store(d + 3 * NR, x3);
                }
                for (; k < kc; k++) {
                    float *d = Bp + (size_t)k * NR + (size_t)c0;
                    d[0] = s0[k], d[1] = s1[k], d[2] = s2[k], d[3] = s3[k];
                }
            }
        } else {
            for (int c = 0; c < NR; c++) {
                float *d = Bp + (size_t)c;
                if (c < nr) {
                    const float *s = B + (size_t)(j0 + c) * ldb;
                    for (int k = 0; k < kc; k++) d[(size_t)k * NR] = s[k];
                } else {
                    for (int k = 0; k < kc; k++) d[(size_t)k * NR] = 0.0f;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Micro-kernel: C[0:mr][0:nr] (+)= Ap panel (kc x MR) * Bp panel (kc x NR); mr constant after inlining. */

FX_INLINE void ukr(const int mr, int kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc, int nr,
                   int load_c)
{
    v128_t acc[MR][NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_splat(0.0f);

    for (int k = 0; k < kc; k++) {
        v128_t bv[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = wasm_v128_load(b + 4 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                const v128_t av = wasm_v128_load32_splat(a + r);
#pragma clang loop unroll(full)
                for (int v = 0; v < NV; v++) acc[r][v] = wasm_f32x4_add(acc[r][v], wasm_f32x4_mul(av, bv[v]));
            }
        }
        a += MR;
        b += bstride;
    }

    if (nr == NR) {
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                float *cr = c + (size_t)r * ldc;
#pragma clang loop unroll(full)
                for (int v = 0; v < NV; v++) {
                    v128_t x = acc[r][v];
                    if (load_c) x = wasm_f32x4_add(x, wasm_v128_load(cr + 4 * v));
                    wasm_v128_store(cr + 4 * v, x);
                }
            }
        }
    } else {
        float tile[NR];
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                float *cr = c + (size_t)r * ldc;
#pragma clang loop unroll(full)
                for (int v = 0; v < NV; v++) wasm_v128_store(tile + 4 * v, acc[r][v]);
                if (load_c)
                    for (int j = 0; j < nr; j++) cr[j] += tile[j];
                else
                    for (int j = 0; j < nr; j++) cr[j] = tile[j];
            }
        }
    }
}

typedef void (*ukr_fn)(int kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc, int nr,
                       int load_c);

#define FX_UKR_INSTANCE(R) \
    static void ukr_##R(int kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc, int nr, \
                        int load_c) \
    { \
        ukr(R, kc, a, b, bstride, c, ldc, nr, load_c); \
    }
FX_UKR_INSTANCE(1)
FX_UKR_INSTANCE(2)
FX_UKR_INSTANCE(3)
FX_UKR_INSTANCE(4)
#if FX_WASM_MR > 4
FX_UKR_INSTANCE(5)
#endif
#if FX_WASM_MR > 5
FX_UKR_INSTANCE(6)
#endif
#if FX_WASM_MR < 4 || FX_WASM_MR > 6 || FX_WASM_NR % 4 != 0
#error "supported: FX_WASM_MR in 4..6, FX_WASM_NR a multiple of 4"
#endif
#undef FX_UKR_INSTANCE

/* ---------------------------------------------------------------------------------------------------------- */
/* Driver.                                                                                                    */

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

void fx_sgemm__wasmsimd(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        float *C, int ldc, int accumulate, float *ws)
{
    const ukr_fn ukrs[MR + 1] = {
        0, ukr_1, ukr_2, ukr_3, ukr_4,
#if FX_WASM_MR > 4
        ukr_5,
#endif
#if FX_WASM_MR > 5
        ukr_6,
#endif
    };
    if (M <= 0 || N <= 0) return;
    const size_t sldc = (size_t)ldc, slda = (size_t)lda, sldb = (size_t)ldb;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(size_t)i * sldc + (size_t)j] = 0.0f;
        return;
    }

    /* K is split evenly into blocks of <= KC_MAX, M into blocks of <= MC_MAX rows (a multiple of MR). */
    const int kb = ceil_div(K, KC_MAX);
    const int kcb = ceil_div(K, kb);
    const int mb = ceil_div(M, MC_MAX);
    const int mcb = ceil_div(ceil_div(M, mb), MR) * MR;
    const size_t a_floats = ((size_t)mcb * (size_t)kcb + 15) & ~(size_t)15;
    float *Ap = ws, *Bp = ws + a_floats;

    if (mb == 1) {
        /* One M block (the conv forward / weight-gradient shapes): pack all of op(A) once per K block, then
         * stream op(B) panel by panel; each NR-wide panel is packed into a small buffer that stays in L1 while
         * the MR-row kernels sweep it. When tb == 0 and B is small, full panels are read in place instead
         * (measured under V8: that wins only while B is small - the engine has no prefetch instruction). */
        const int direct_b = !tb && (size_t)K * (size_t)N <= ((size_t)64 << 10);
        for (int pc = 0; pc < K; pc += kcb) {
            const int kc = K - pc < kcb ? K - pc : kcb;
            const int load_c = accumulate || pc > 0;
            pack_a(ta, M, kc, ta ? A + (size_t)pc * slda : A + (size_t)pc, slda, Ap);
            for (int jr = 0; jr < N; jr += NR) {
                const int nr = N - jr < NR ? N - jr : NR;
                const float *bsrc = tb ? B + (size_t)jr * sldb + (size_t)pc : B + (size_t)pc * sldb + (size_t)jr;
                const float *bp = Bp;
                size_t bstride = NR;
                if (direct_b && nr == NR)
                    bp = bsrc, bstride = sldb;
                else
                    pack_b(tb, kc, nr, bsrc, sldb, Bp);
                for (int ir = 0; ir < M; ir += MR) {
                    const int mr = M - ir < MR ? M - ir : MR;
                    ukrs[mr](kc, Ap + (size_t)ir * (size_t)kc, bp, bstride, C + (size_t)ir * sldc + (size_t)jr, sldc,
                             nr, load_c);
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
                        ukrs[mr](kc, Ap + (size_t)ir * (size_t)kc, bp, NR, cc + (size_t)ir * sldc, sldc, nr, load_c);
                    }
                }
            }
        }
    }
}
#endif /* __wasm_simd128__ */
