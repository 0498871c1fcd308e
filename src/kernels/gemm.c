/*
 * gemm.c - SGEMM dispatch and the scalar reference variant.
 *
 *   C[M][N] = (accumulate ? C : 0) + op(A) * op(B)          (contract: gemm.h)
 *
 * Variants (kernel naming: fx_sgemm__<isa>, micro-kernel shape in the variant's own file):
 *   fx_sgemm__scalar    here; plain loops, the reference every other variant is tested against, and the
 *                       fallback of builds without SIMD (e.g. wasm without -msimd128).
 *   fx_sgemm__avx2      gemm_avx2.c, x86-64 only, AVX2+FMA chosen at run time (__builtin_cpu_supports).
 *   fx_sgemm__wasmsimd  gemm_wasmsimd.c, only when compiled with -msimd128 (chosen at compile time).
 *
 * Dispatch state is one function pointer. fx_sgemm() initialises it lazily, but callers that use threads
 * should call fx_gemm_init() (or fx_gemm_use()) once before starting them.
 * Constraints of all variants: no allocation, no static buffers (scratch lives in the caller's `ws`), never read
 * or write outside the valid parts of A, B, C (padding elements between rows are left untouched), and C is never
 * read when accumulate == 0 (so it may hold garbage / NaN).
 */
#include "gemm.h"

#include <stddef.h>

/* ---------------------------------------------------------------------------------------------------------- */
/* Scalar reference.                                                                                          */

void fx_sgemm__scalar(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, int accumulate, float *ws)
{
    (void)ws;
    if (M <= 0 || N <= 0) return;
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        if (!accumulate)
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        if (!tb) {
            /* op(B) rows are contiguous: C[i][:] += op(A)(i,k) * B[k][:] */
            for (int k = 0; k < K; k++) {
                const float a = ta ? A[(size_t)k * (size_t)lda + (size_t)i] : A[(size_t)i * (size_t)lda + (size_t)k];
                const float *b = B + (size_t)k * (size_t)ldb;
                for (int j = 0; j < N; j++) c[j] += a * b[j];
            }
        } else {
            /* op(B) columns are contiguous: C[i][j] += dot(op(A)(i,:), B[j][:]) */
            for (int j = 0; j < N; j++) {
                const float *b = B + (size_t)j * (size_t)ldb;
                float s = 0.0f;
                if (ta)
                    for (int k = 0; k < K; k++) s += A[(size_t)k * (size_t)lda + (size_t)i] * b[k];
                else {
                    const float *a = A + (size_t)i * (size_t)lda;
                    for (int k = 0; k < K; k++) s += a[k] * b[k];
                }
                c[j] += s;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Dispatch.                                                                                                  */

static fx_sgemm_fn g_fn;                      /* NULL until fx_gemm_init() / fx_gemm_use() */
static fx_gemm_isa g_isa = FX_GEMM_AUTO;

#if defined(__x86_64__)
static int avx2_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

fx_sgemm_fn fx_gemm_variant(fx_gemm_isa isa)
{
    switch (isa) {
    case FX_GEMM_SCALAR:
        return fx_sgemm__scalar;
    case FX_GEMM_AVX2:
#if defined(__x86_64__)
        if (avx2_ok()) return fx_sgemm__avx2;
#endif
        return NULL;
    case FX_GEMM_WASMSIMD:
#if defined(__wasm_simd128__)
        return fx_sgemm__wasmsimd;
#else
        return NULL;
#endif
    case FX_GEMM_AUTO:
    default:
        if (fx_gemm_variant(FX_GEMM_AVX2)) return fx_gemm_variant(FX_GEMM_AVX2);
        if (fx_gemm_variant(FX_GEMM_WASMSIMD)) return fx_gemm_variant(FX_GEMM_WASMSIMD);
        return fx_sgemm__scalar;
    }
}

const char *fx_gemm_isa_name(fx_gemm_isa isa)
{
    switch (isa) {
    case FX_GEMM_SCALAR: return "scalar";
    case FX_GEMM_AVX2: return "avx2";
    case FX_GEMM_WASMSIMD: return "wasmsimd";
    case FX_GEMM_AUTO:
    default: return "auto";
    }
}

int fx_gemm_use(fx_gemm_isa isa)
{
    if (isa == FX_GEMM_AUTO) {
        isa = fx_gemm_variant(FX_GEMM_AVX2)       ? FX_GEMM_AVX2
              : fx_gemm_variant(FX_GEMM_WASMSIMD) ? FX_GEMM_WASMSIMD
                                                  : FX_GEMM_SCALAR;
    }
    fx_sgemm_fn fn = fx_gemm_variant(isa);
    if (!fn) return -1;
    g_fn = fn;
    g_isa = isa;
    return 0;
}

fx_gemm_isa fx_gemm_init(void)
{
    if (!g_fn) fx_gemm_use(FX_GEMM_AUTO);
    return g_isa;
}

const char *fx_gemm_name(void)
{
    fx_gemm_init();
    return fx_gemm_isa_name(g_isa);
}

void fx_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc, int accumulate, float *ws)
{
    if (!g_fn) fx_gemm_init();
    g_fn(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, accumulate, ws);
}
