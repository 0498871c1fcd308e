/*
 * bcq_lut.h - lookup-table GEMM for binary-coded (+-1) weights, see bcq_lut.c.
 */
#ifndef FX_KERNELS_BCQ_LUT_H
#define FX_KERNELS_BCQ_LUT_H
#include <stddef.h>
#include <stdint.h>

/* Table workspace (floats) for K inputs. */
size_t fx_bcq_ws_floats(int K);

/* Y[m][p] = act(sum_pl alpha[pl][m] * sum_k B[pl][m][k] X[k][p] + bias[m]) for m < M, p < P.
 * bits: (q, M, ceil(K/4)) nibbles, bit t of [pl][m][g] set <=> B[pl][m][4g+t] = +1. bias may be NULL;
 * act is ReLU when relu != 0. X is (K, ldx), Y is (M, ldy); Y is written, not accumulated. */
void fx_bcq_lut_gemm(int M, int P, int K, int q, const uint8_t *bits, const float *alpha, const float *bias, int relu,
                     const float *X, int ldx, float *Y, int ldy, float *ws);

/* Packs the signs of a float matrix W (M, K) into bits (M, ceil(K/4)): bit set where W > 0. */
void fx_bcq_pack_signs(int M, int K, const float *W, uint8_t *bits);
#endif
