/*
 * gemm_bench.c - SGEMM micro-benchmark (standalone program, own main).
 *
 * 1. Validates every available variant against the scalar reference on every shape (exit 1 on a mismatch).
 * 2. Times each variant on the ResNet-20/32 and LeNet-5 layer GEMMs (im2col convs forward / weight gradient /
 *    input gradient, dense layers over a batch of 64): one warm-up call, then repeated batches until about
 *    `seconds` (default 0.3) per shape and variant; prints GFLOP/s = 2*M*N*K / time (best batch).
 * 3. Measures the machine's peak with a register-resident multiply-add loop: AVX2 FMA natively (when the CPU has
 *    it), f32x4 mul + add under -msimd128 (no FMA in baseline simd128), and scalar mul + add. The "scalar"
 *    GEMM variant is plain C that the compiler may auto-vectorise, so it can beat the scalar peak.
 *
 * Native:  gcc -std=c11 -O3 -march=native -o gemm_bench bench/gemm_bench.c src/kernels/gemm*.c -lm
 *          (plain -O3 works too: the AVX2 kernels carry target attributes and are picked at run time)
 * WASI:    emcc -std=c11 -O3 -msimd128 -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH=1 -o gemm_bench.wasm \
 *               bench/gemm_bench.c src/kernels/gemm*.c            (without -msimd128: scalar only)
 *          node bench/run-wasi.mjs gemm_bench.wasm [seconds]
 * Usage:   gemm_bench [seconds_per_case] [substring: only shapes whose name contains it]
 * Under a wasm engine the first calls run baseline-compiled code; the best-batch timing skips them. On a busy
 * machine numbers drop: rerun, or use a longer time per case.
 * Timing uses clock_gettime(CLOCK_MONOTONIC) (available under WASI).
 */
#define _POSIX_C_SOURCE 199309L
#include "../src/kernels/gemm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

typedef struct {
    const char *name;
    int ta, tb, M, N, K;
} shape_t;

static const shape_t shapes[] = {
    /* ResNet-20/32, CIFAR 32x32, one image per GEMM: conv forward A = W [Cout][Cin*9], B = im2col [Cin*9][HW] */
    {"res.conv1   fwd", 0, 0, 16, 1024, 27},
    {"res.c16     fwd", 0, 0, 16, 1024, 144},
    {"res.c16     dW ", 0, 1, 16, 144, 1024},
    {"res.c16     dX ", 1, 0, 144, 1024, 16},
    {"res.c32s2   fwd", 0, 0, 32, 256, 144},
    {"res.c32     fwd", 0, 0, 32, 256, 288},
    {"res.c32     dW ", 0, 1, 32, 288, 256},
    {"res.c32     dX ", 1, 0, 288, 256, 32},
    {"res.c64s2   fwd", 0, 0, 64, 64, 288},
    {"res.c64     fwd", 0, 0, 64, 64, 576},
    {"res.c64     dW ", 0, 1, 64, 576, 64},
    {"res.c64     dX ", 1, 0, 576, 64, 64},
    {"res.c16 b8  fwd", 0, 0, 16, 8192, 144}, /* batch-folded: N = HW * 8 */
    /* LeNet-5 (32C5-MP2-64C5-MP2-512FC-10), 28x28 'same', batch 64 for the dense layers */
    {"lenet.conv1 fwd", 0, 0, 32, 784, 25},
    {"lenet.conv2 fwd", 0, 0, 64, 196, 800},
    {"lenet.conv2 dW ", 0, 1, 64, 800, 196},
    {"lenet.conv2 dX ", 1, 0, 800, 196, 64},
    {"lenet.fc1   fwd", 0, 1, 64, 512, 3136},
    {"lenet.fc1   dX ", 0, 0, 64, 3136, 512},
    {"lenet.fc1   dW ", 1, 0, 512, 3136, 64},
    {"lenet.fc2   fwd", 0, 1, 64, 10, 512},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) * (1.0 / 8388608.0) - 1.0);
}

static float *alloc_floats(size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "gemm_bench: out of memory\n");
        exit(2);
    }
    return p;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Peak: independent accumulator chains that stay in registers.                                                 */

static volatile float peak_sink;

#if defined(__x86_64__)
__attribute__((target("avx2,fma"), noinline)) static double peak_avx2_fma(long iters)
{
    /* distinct start values: identical chains would be merged by the compiler */
    __m256 x = _mm256_set1_ps(1e-7f), y = _mm256_set1_ps(0.5f);
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(1.0f), a2 = _mm256_set1_ps(2.0f),
           a3 = _mm256_set1_ps(3.0f), a4 = _mm256_set1_ps(4.0f), a5 = _mm256_set1_ps(5.0f),
           a6 = _mm256_set1_ps(6.0f), a7 = _mm256_set1_ps(7.0f), a8 = _mm256_set1_ps(8.0f),
           a9 = _mm256_set1_ps(9.0f), a10 = _mm256_set1_ps(10.0f), a11 = _mm256_set1_ps(11.0f);
    const double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(x, y, a0); a1 = _mm256_fmadd_ps(x, y, a1); a2 = _mm256_fmadd_ps(x, y, a2);
        a3 = _mm256_fmadd_ps(x, y, a3); a4 = _mm256_fmadd_ps(x, y, a4); a5 = _mm256_fmadd_ps(x, y, a5);
        a6 = _mm256_fmadd_ps(x, y, a6); a7 = _mm256_fmadd_ps(x, y, a7); a8 = _mm256_fmadd_ps(x, y, a8);
        a9 = _mm256_fmadd_ps(x, y, a9); a10 = _mm256_fmadd_ps(x, y, a10); a11 = _mm256_fmadd_ps(x, y, a11);
        __asm__ volatile("" : "+x"(x), "+x"(y)); /* keep the loop body from being folded */
    }
    const double t = now_s() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    peak_sink = out[0];
    return (double)iters * 12 * 16 / t * 1e-9; /* 12 FMAs x 8 lanes x 2 flops */
}
#endif

/* Inputs of the products come from memory each iteration (8 different slots, opaque to the compiler), so no
 * product can be hoisted or shared; loads do not compete with the FP ports. */
static float peak_in[8 * 8];

#if defined(__wasm_simd128__)
__attribute__((noinline)) static double peak_f32x4(long iters)
{
    /* 8 accumulator chains of mul+add, 14 live v128 values (V8 on x64 has 15 allocatable xmm registers) */
    const v128_t y = wasm_f32x4_splat(0.5f), z = wasm_f32x4_splat(0.25f), w = wasm_f32x4_splat(0.125f);
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        const v128_t x = wasm_v128_load(peak_in + (i & 7) * 8), u = wasm_v128_load(peak_in + (i & 7) * 8 + 4);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(x, y)); a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(x, z));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(x, w)); a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(x, u));
        a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(u, y)); a5 = wasm_f32x4_add(a5, wasm_f32x4_mul(u, z));
        a6 = wasm_f32x4_add(a6, wasm_f32x4_mul(u, w)); a7 = wasm_f32x4_add(a7, wasm_f32x4_mul(x, x));
    }
    const double t = now_s() - t0;
    v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                              wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7)));
    peak_sink = wasm_f32x4_extract_lane(s, 0);
    return (double)iters * 8 * 8 / t * 1e-9; /* 8 x (mul + add) x 4 lanes */
}
#endif

__attribute__((noinline)) static double peak_scalar(long iters)
{
    volatile float vy = 0.5f, vz = 0.25f, vw = 0.125f;
    const float y = vy, z = vz, w = vw;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    const double t0 = now_s();
    for (long i = 0; i < iters; i++) {
        const float x = peak_in[(i & 7) * 8], u = peak_in[(i & 7) * 8 + 1];
        a0 += x * y; a1 += x * z; a2 += x * w; a3 += x * u;
        a4 += u * y; a5 += u * z; a6 += u * w; a7 += x * x;
    }
    const double t = now_s() - t0;
    peak_sink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    return (double)iters * 8 * 2 / t * 1e-9;
}

static double best_peak(double (*fn)(long))
{
    /* many short calls first: a wasm engine compiles a function with its baseline compiler and switches to the
     * optimising one only for later calls */
    for (int r = 0; r < 200; r++) fn(1 << 10);
    long iters = 1 << 16;
    for (int r = 0; r < 40; r++) {
        const double t0 = now_s();
        fn(iters);
        if (now_s() - t0 > 0.02 || iters > (1L << 29)) break;
        iters *= 2;
    }
    double best = 0.0;
    for (int r = 0; r < 10; r++) {
        const double g = fn(iters);
        if (g > best) best = g;
    }
    return best;
}

/* ------------------------------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    if (!(seconds > 0.0)) seconds = 0.3;
    const char *filter = argc > 2 ? argv[2] : NULL;

    fx_gemm_isa isas[3];
    int nv = 0;
    for (int v = FX_GEMM_SCALAR; v <= FX_GEMM_WASMSIMD; v++)
        if (fx_gemm_variant((fx_gemm_isa)v)) isas[nv++] = (fx_gemm_isa)v;
    printf("gemm_bench: variants:");
    for (int v = 0; v < nv; v++) printf(" %s", fx_gemm_isa_name(isas[v]));
    printf("  (auto: %s)  %.2f s per case\n", fx_gemm_isa_name(fx_gemm_init()), seconds);

    for (int i = 0; i < 64; i++) peak_in[i] = 1e-3f * (float)(i + 1);
    float *ws = alloc_floats(FX_GEMM_WS_FLOATS);
    double gf[NSHAPES][3];
    int failures = 0;

    for (int s = 0; s < NSHAPES; s++) {
        const shape_t *sh = &shapes[s];
        if (filter && !strstr(sh->name, filter)) {
            gf[s][0] = -1.0;
            continue;
        }
        const int M = sh->M, N = sh->N, K = sh->K;
        const int lda = sh->ta ? M : K, ldb = sh->tb ? K : N, ldc = N;
        const size_t na = (size_t)M * (size_t)K, nb = (size_t)K * (size_t)N, nc = (size_t)M * (size_t)N;
        float *A = alloc_floats(na), *B = alloc_floats(nb), *C0 = alloc_floats(nc), *Cref = alloc_floats(nc),
              *C = alloc_floats(nc);
        for (size_t i = 0; i < na; i++) A[i] = rnd();
        for (size_t i = 0; i < nb; i++) B[i] = rnd();
        for (size_t i = 0; i < nc; i++) C0[i] = rnd();

        /* validation: accumulate = 1 on random C, against the scalar reference */
        memcpy(Cref, C0, nc * sizeof(float));
        fx_sgemm__scalar(sh->ta, sh->tb, M, N, K, A, lda, B, ldb, Cref, ldc, 1, ws);
        for (int v = 0; v < nv; v++) {
            memcpy(C, C0, nc * sizeof(float));
            fx_gemm_variant(isas[v])(sh->ta, sh->tb, M, N, K, A, lda, B, ldb, C, ldc, 1, ws);
            double worst = 0.0;
            for (size_t i = 0; i < nc; i++) {
                const double d = fabs((double)C[i] - (double)Cref[i]) / (1.0 + fabs((double)Cref[i]));
                if (!(d <= worst)) worst = d;
            }
            /* |A|,|B| < 1: the sums of |a*b| are <= K, so K*1e-6 is a loose but meaningful bound */
            if (!(worst <= 1e-6 * (double)K + 1e-5)) {
                printf("VALIDATION FAILED: %s %s  max rel err %g\n", sh->name, fx_gemm_isa_name(isas[v]), worst);
                failures++;
            }
        }

        /* timing: accumulate = 0, the common case of a forward conv; best of the batches */
        const double flops = 2.0 * (double)M * (double)N * (double)K;
        for (int v = 0; v < nv; v++) {
            fx_sgemm_fn fn = fx_gemm_variant(isas[v]);
            fn(sh->ta, sh->tb, M, N, K, A, lda, B, ldb, C, ldc, 0, ws); /* warm-up */
            double t0 = now_s();
            fn(sh->ta, sh->tb, M, N, K, A, lda, B, ldb, C, ldc, 0, ws);
            double one = now_s() - t0;
            long reps = (long)(seconds / 20.0 / (one > 1e-7 ? one : 1e-7)); /* ~20 batches */
            if (reps < 1) reps = 1;
            double best = 1e30, total = 0.0;
            while (total < seconds) {
                t0 = now_s();
                for (long r = 0; r < reps; r++) fn(sh->ta, sh->tb, M, N, K, A, lda, B, ldb, C, ldc, 0, ws);
                const double t = now_s() - t0;
                total += t;
                if (t / (double)reps < best) best = t / (double)reps;
            }
            gf[s][v] = flops / best * 1e-9;
        }
        free(A);
        free(B);
        free(C0);
        free(Cref);
        free(C);
    }

    printf("\n%-16s %2s %2s %5s %5s %5s %8s", "shape", "ta", "tb", "M", "N", "K", "MFLOP");
    for (int v = 0; v < nv; v++) printf(" %9s", fx_gemm_isa_name(isas[v]));
    printf("   GFLOP/s\n");
    for (int s = 0; s < NSHAPES; s++) {
        const shape_t *sh = &shapes[s];
        if (gf[s][0] < 0.0) continue;
        printf("%-16s %2d %2d %5d %5d %5d %8.2f", sh->name, sh->ta, sh->tb, sh->M, sh->N, sh->K,
               2e-6 * (double)sh->M * (double)sh->N * (double)sh->K);
        for (int v = 0; v < nv; v++) printf(" %9.2f", gf[s][v]);
        printf("\n");
    }

    printf("\npeak (register-resident loop):");
#if defined(__x86_64__)
    if (fx_gemm_variant(FX_GEMM_AVX2)) printf("  avx2 fma %.2f GFLOP/s", best_peak(peak_avx2_fma));
#endif
#if defined(__wasm_simd128__)
    printf("  f32x4 mul+add %.2f GFLOP/s", best_peak(peak_f32x4));
#endif
    printf("  scalar mul+add %.2f GFLOP/s\n", best_peak(peak_scalar));
    free(ws);
    if (failures) printf("%d validation failures\n", failures);
    return failures ? 1 : 0;
}
