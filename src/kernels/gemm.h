/*
 * gemm.h - single-precision GEMM used by every conv / dense layer, forward and backward.
 *
 *   C[M][N] = (accumulate ? C : 0) + op(A) * op(B)
 *
 *   op(A) is M x K.  ta = 0: A is row-major [M][lda];  ta = 1: A is stored as [K][lda] and used transposed.
 *   op(B) is K x N.  tb = 0: B is row-major [K][ldb];  tb = 1: B is stored as [N][ldb] and used transposed.
 *   C is row-major [M][ldc].
 *
 * Kernels never allocate: `ws` is caller-owned scratch of at least FX_GEMM_WS_FLOATS floats, 64-byte aligned
 * (the model arena provides it). Variants: scalar reference, native AVX2+FMA (x86-64, chosen at run time by
 * CPUID), WebAssembly SIMD128 (chosen at compile time when built with -msimd128). fx_gemm_init() picks one
 * once; fx_gemm_use() forces one (tests and benchmarks compare them).
 */
#ifndef FX_KERNELS_GEMM_H
#define FX_KERNELS_GEMM_H

#define FX_GEMM_WS_FLOATS (128 * 1024)

typedef enum { FX_GEMM_AUTO = 0, FX_GEMM_SCALAR = 1, FX_GEMM_AVX2 = 2, FX_GEMM_WASMSIMD = 3 } fx_gemm_isa;

typedef void (*fx_sgemm_fn)(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc, int accumulate, float *ws);

/* Picks the fastest available variant (idempotent). Returns the chosen isa. */
fx_gemm_isa fx_gemm_init(void);
/* Forces a variant; returns 0 on success, -1 if it is not available in this build / on this CPU. */
int fx_gemm_use(fx_gemm_isa isa);
/* Name of the active variant, e.g. "avx2", "wasmsimd", "scalar". */
const char *fx_gemm_name(void);

/* The dispatched entry point. M, N or K may be 0 (then C is only zeroed when !accumulate). */
void fx_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
              int ldc, int accumulate, float *ws);

/* The individual variants, for tests and benchmarks. */
void fx_sgemm__scalar(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, int accumulate, float *ws);
/* x86-64 builds only (gemm_avx2.c, compiled with a target attribute); call it only where
 * fx_gemm_variant(FX_GEMM_AVX2) is non-NULL, i.e. the CPU has AVX2 and FMA. */
void fx_sgemm__avx2(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    float *C, int ldc, int accumulate, float *ws);
/* -msimd128 builds only (gemm_wasmsimd.c). */
void fx_sgemm__wasmsimd(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                        float *C, int ldc, int accumulate, float *ws);

/* The function of one variant without making it active; NULL if it is not available in this build / on this
 * CPU. FX_GEMM_AUTO gives the variant fx_gemm_init() would pick. */
fx_sgemm_fn fx_gemm_variant(fx_gemm_isa isa);
/* Name of a variant ("scalar", "avx2", "wasmsimd"; "auto" for FX_GEMM_AUTO). */
const char *fx_gemm_isa_name(fx_gemm_isa isa);
#endif
