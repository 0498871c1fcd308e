/*
 * bcq_lut.c - lookup-table GEMM for binary-coded weights (BiQGEMM, Jeon et al., SC 2020), the inference
 * path of FleXOR layers: the decrypted +-1 weights are never expanded to floats.
 *
 *   Y[m][p] = sum_planes alpha[pl][m] * sum_k B[pl][m][k] * X[k][p],   B in {-1, +1}
 *
 * The K inputs are split into groups of 4. For every group g and block of 16 output pixels, the 16 signed
 * sums T[g][key] = sum_t (bit t of key ? +x_t : -x_t) are tabulated once (24 vector adds), and every output
 * row then needs ONE 16-pixel table read per group instead of 4 x 16 multiply-adds: the tables are shared by
 * all M rows and all q planes. Weight bits are packed one nibble per group: bits[pl][m][g] bit t is 1 when
 * B[pl][m][4g+t] = +1. A per-row bias and a ReLU are applied in the epilogue (BN folded by the caller). The vector code uses GCC/Clang vector extensions, so one source gives SSE natively
 * and SIMD128 in WebAssembly. Never allocates: ws holds the tables (fx_bcq_ws_floats(K) floats).
 */
#include "bcq_lut.h"
#include <string.h>

typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef int v4i __attribute__((vector_size(16), aligned(4)));

#define PB 16 /* pixels per block: 4 vectors */

size_t fx_bcq_ws_floats(int K) { return (size_t)((K + 3) / 4) * 16 * PB; }

static inline v4 ld(const float *p) { v4 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v4 v) { memcpy(p, &v, sizeof v); }

/* Tables of one pixel block: T[g][key][0..15] for all groups, from the block's columns of X. `cols`
 * valid pixels; missing pixels and rows are treated as zeros. */
static void build_tables(int K, const float *X, int ldx, int p0, int cols, float *T) {
    int G = (K + 3) / 4;
    for (int g = 0; g < G; g++) {
        v4 x[4][4]; /* [t][vector] */
        for (int t = 0; t < 4; t++) {
            int k = 4 * g + t;
            if (k < K && cols == PB) {
                for (int v = 0; v < 4; v++) x[t][v] = ld(X + (size_t)k * ldx + p0 + 4 * v);
            } else {
                float tmp[PB] = {0};
                if (k < K) memcpy(tmp, X + (size_t)k * ldx + p0, sizeof(float) * (size_t)cols);
                for (int v = 0; v < 4; v++) x[t][v] = ld(tmp + 4 * v);
            }
        }
        float *Tg = T + (size_t)g * 16 * PB;
        for (int v = 0; v < 4; v++) {
            v4 a[4], b[4];
            a[0] = -x[0][v] - x[1][v]; a[1] = x[0][v] - x[1][v]; a[2] = -a[1]; a[3] = -a[0];
            b[0] = -x[2][v] - x[3][v]; b[1] = x[2][v] - x[3][v]; b[2] = -b[1]; b[3] = -b[0];
            for (int key = 0; key < 16; key++) st(Tg + key * PB + 4 * v, a[key & 3] + b[key >> 2]);
        }
    }
}

void fx_bcq_lut_gemm(int M, int P, int K, int q, const uint8_t *bits, const float *alpha, const float *bias, int relu,
                     const float *X, int ldx, float *Y, int ldy, float *ws) {
    int G = (K + 3) / 4;
    for (int p0 = 0; p0 < P; p0 += PB) {
        int cols = P - p0 < PB ? P - p0 : PB;
        build_tables(K, X, ldx, p0, cols, ws);
        for (int m = 0; m < M; m++) {
            v4 y[4] = {{0}, {0}, {0}, {0}};
            for (int pl = 0; pl < q; pl++) {
                const uint8_t *b = bits + ((size_t)pl * M + m) * G;
                v4 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
                for (int g = 0; g < G; g++) {
                    const float *t = ws + ((size_t)g * 16 + (b[g] & 15)) * PB;
                    acc0 += ld(t); acc1 += ld(t + 4); acc2 += ld(t + 8); acc3 += ld(t + 12);
                }
                float a = alpha[(size_t)pl * M + m];
                y[0] += a * acc0; y[1] += a * acc1; y[2] += a * acc2; y[3] += a * acc3;
            }
            if (bias)
                for (int v = 0; v < 4; v++) y[v] += bias[m];
            if (relu) {
                const v4 zero = {0, 0, 0, 0};
                for (int v = 0; v < 4; v++) y[v] = (v4)((v4i)y[v] & (y[v] > zero)); /* lanes <= 0 -> +0 */
            }
            float *dst = Y + (size_t)m * ldy + p0;
            if (cols == PB) {
                for (int v = 0; v < 4; v++) st(dst + 4 * v, y[v]);
            } else {
                float tmp[PB];
                for (int v = 0; v < 4; v++) st(tmp + 4 * v, y[v]);
                memcpy(dst, tmp, sizeof(float) * (size_t)cols);
            }
        }
    }
}

void fx_bcq_pack_signs(int M, int K, const float *W, uint8_t *bits) {
    int G = (K + 3) / 4;
    for (int m = 0; m < M; m++)
        for (int g = 0; g < G; g++) {
            uint8_t v = 0;
            for (int t = 0; t < 4 && 4 * g + t < K; t++) v |= (uint8_t)((W[(size_t)m * K + 4 * g + t] > 0.0f) << t);
            bits[(size_t)m * G + g] = v;
        }
}
