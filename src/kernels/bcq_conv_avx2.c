/*
 * bcq_conv_avx2.c - the 8-wide (AVX2) direct LUT conv kernel, x86-64 only; bcq_conv.c calls it when the CPU
 * has AVX2 (__builtin_cpu_supports). Compiled with plain flags: the functions carry target("avx2").
 */
#include "bcq_conv_layout.h" /* (outside the #if: keeps the translation unit non-empty on other targets) */
#if defined(__x86_64__) && !defined(FX_NO_AVX2)
#define VW 8
#define KFN fx_bcq_conv_run_avx2
#define ATTR __attribute__((target("avx2")))
#include "bcq_conv_impl.h"
#else
void fx_bcq_conv_run_avx2(const fx_bcq_conv_geom *g, const fx_bcq_layout *L, int n, int q, const int32_t *offs,
                          const float *alpha, const float *bias, const float *res, int relu, const float *x, float *y,
                          float *T, float *tmp) {
    fx_bcq_conv_run_v4(g, L, n, q, offs, alpha, bias, res, relu, x, y, T, tmp);
}
#endif
