/*
 * bcq_conv_layout.h - the table layout of the direct LUT conv (bcq_conv.c), shared by its vector widths.
 */
#ifndef FX_KERNELS_BCQ_CONV_LAYOUT_H
#define FX_KERNELS_BCQ_CONV_LAYOUT_H
#include "bcq_conv.h"

/* Output rows are padded to whole multiples of FX_BCQ_ROW floats (the widest vector), so one layout serves
 * the 4- and the 8-wide kernels. */
#define FX_BCQ_ROW 8

typedef struct fx_bcq_layout {
    int G4;   /* channel groups of 4 */
    int Hp;   /* padded rows that are read: (h_out - 1) * stride + k */
    int Wv;   /* output row width rounded up to FX_BCQ_ROW */
    int Wph;  /* floats per phase row: Wv + (k - 1) / stride, rounded up to FX_BCQ_ROW */
    int RS;   /* floats per padded row: stride * Wph */
    int PS;   /* floats per table plane (one key of one group): Hp * RS */
    int nt;   /* offsets per (plane, output channel): k * k * G4 */
} fx_bcq_layout;

void fx_bcq_conv_layout(const fx_bcq_conv_geom *g, fx_bcq_layout *L);

/* The kernels: 4-wide (bcq_conv.c) and, on x86-64, 8-wide AVX2 (bcq_conv_avx2.c). */
void fx_bcq_conv_run_v4(const fx_bcq_conv_geom *g, const fx_bcq_layout *L, int n, int q, const int32_t *offs,
                        const float *alpha, const float *bias, const float *res, int relu, const float *x, float *y,
                        float *T, float *tmp);
void fx_bcq_conv_run_avx2(const fx_bcq_conv_geom *g, const fx_bcq_layout *L, int n, int q, const int32_t *offs,
                          const float *alpha, const float *bias, const float *res, int relu, const float *x, float *y,
                          float *T, float *tmp);
#endif
