/*
 * bcq_conv_impl.h - the vector-width-specific part of bcq_conv.c (table build and gather loop), included by
 * bcq_conv.c with VW = 4 (SSE natively, SIMD128 in WebAssembly) and by bcq_conv_avx2.c with VW = 8 (AVX2,
 * chosen at run time on x86-64). Before including, define VW, KFN (the kernel's name) and ATTR (a function
 * attribute, possibly empty). The table layout (bcq_conv_layout.h) is the same for both widths. No include
 * guard: each including translation unit instantiates it once.
 */
#include "bcq_conv_layout.h"
#include <string.h>

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int vi __attribute__((vector_size(VW * 4)));
/* unaligned, aliasing-safe views for loads and stores (plain unaligned vector moves; a memcpy of a 32-byte
 * vector went through the stack in GCC 12) */
typedef float vfu __attribute__((vector_size(VW * 4), aligned(4), may_alias));

ATTR static inline vf ld(const float *p) { return *(const vfu *)p; }
ATTR static inline void st(float *p, vf v) { *(vfu *)p = v; }

/* The 16 tables of every channel group of one image. tmp holds the 4 channels' padded, phase-split row. */
ATTR static void build_tables(const fx_bcq_conv_geom *g, const fx_bcq_layout *L, const float *x, float *T, float *tmp) {
    int H = g->h, W = g->w, s = g->stride, pad = g->pad, RS = L->RS, PS = L->PS;
    for (int gi = 0; gi < L->G4; gi++) {
        float *Tg = T + (size_t)gi * 16 * PS;
        for (int py = 0; py < L->Hp; py++) {
            int iy = py - pad;
            for (int t = 0; t < 4; t++) {
                float *r = tmp + (size_t)t * RS;
                int c = 4 * gi + t;
                if (c >= g->c_in || iy < 0 || iy >= H) {
                    for (int j = 0; j < RS; j++) r[j] = 0.0f;
                    continue;
                }
                const float *xr = x + ((size_t)c * H + iy) * W;
                if (s == 1) { /* columns pad .. pad + W - 1 hold the image row, the rest is zero padding */
                    int n = W < L->Wph - pad ? W : L->Wph - pad, j = 0;
                    for (; j < pad && j < RS; j++) r[j] = 0.0f;
                    for (int i = 0; i < n; i++) r[pad + i] = xr[i];
                    for (j = pad + (n > 0 ? n : 0); j < RS; j++) r[j] = 0.0f;
                } else {
                    memset(r, 0, sizeof(float) * (size_t)RS);
                    for (int ph = 0; ph < s; ph++)
                        for (int j = 0; j < L->Wph; j++) {
                            int ix = j * s + ph - pad;
                            if (ix >= 0 && ix < W) r[ph * L->Wph + j] = xr[ix];
                        }
                }
            }
            float *dst = Tg + (size_t)py * RS;
            for (int j = 0; j < RS; j += VW) {
                vf x0 = ld(tmp + j), x1 = ld(tmp + RS + j), x2 = ld(tmp + 2 * RS + j), x3 = ld(tmp + 3 * RS + j);
                vf a[4], b[4];
                a[0] = -x0 - x1; a[1] = x0 - x1; a[2] = -a[1]; a[3] = -a[0];
                b[0] = -x2 - x3; b[1] = x2 - x3; b[2] = -b[1]; b[3] = -b[0];
                for (int key = 0; key < 16; key++) st(dst + (size_t)key * PS + j, a[key & 3] + b[key >> 2]);
            }
        }
    }
}

/* Sum of the table runs of one (plane, channel) for NV vectors starting at Tb. */
ATTR static inline __attribute__((always_inline)) void gather(int NV, int nt, const int32_t *of, const float *Tb, vf *acc) {
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int t = 0; t < nt; t++) {
        const float *p = Tb + of[t];
        a0 += ld(p);
        if (NV > 1) a1 += ld(p + VW);
        if (NV > 2) a2 += ld(p + 2 * VW);
        if (NV > 3) a3 += ld(p + 3 * VW);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

/* The kernel for n images with the offsets given; T and tmp are the tables and the row buffer of ws. */
ATTR void KFN(const fx_bcq_conv_geom *g, const fx_bcq_layout *Lp, int n, int q, const int32_t *offs, const float *alpha,
              const float *bias, const float *res, int relu, const float *x, float *y, float *T, float *tmp) {
    const fx_bcq_layout L = *Lp;

    int Ho = g->h_out, Wo = g->w_out, C = g->c_out;
    size_t xs = (size_t)g->c_in * g->h * g->w, ys = (size_t)C * Ho * Wo;
    const vf zero = {0};
    for (int i = 0; i < n; i++) {
        build_tables(g, &L, x + i * xs, T, tmp);
        float *yi = y + i * ys;
        const float *ri = res ? res + i * ys : NULL;
        for (int oy = 0; oy < Ho; oy++) {
            const float *Trow = T + (size_t)oy * g->stride * L.RS;
            for (int o = 0; o < C; o++) {
                float *yr = yi + ((size_t)o * Ho + oy) * Wo;
                const float *rr = ri ? ri + ((size_t)o * Ho + oy) * Wo : NULL;
                for (int x0 = 0; x0 < L.Wv; x0 += 4 * VW) {
                    int nv = (L.Wv - x0) / VW < 4 ? (L.Wv - x0) / VW : 4;
                    vf out[4] = {zero, zero, zero, zero}, acc[4];
                    for (int pl = 0; pl < q; pl++) {
                        const int32_t *of = offs + ((size_t)pl * C + o) * L.nt;
                        if (nv == 4) gather(4, L.nt, of, Trow + x0, acc);
                        else if (nv == 3) gather(3, L.nt, of, Trow + x0, acc);
                        else if (nv == 2) gather(2, L.nt, of, Trow + x0, acc);
                        else gather(1, L.nt, of, Trow + x0, acc);
                        float a = alpha[(size_t)pl * C + o];
                        for (int v = 0; v < 4; v++) out[v] += a * acc[v];
                    }
                    int cnt = Wo - x0 < 4 * VW ? Wo - x0 : 4 * VW;
                    float buf[4 * VW];
                    if (rr) {
                        memset(buf, 0, sizeof buf);
                        memcpy(buf, rr + x0, sizeof(float) * (size_t)cnt);
                        for (int v = 0; v < 4; v++) out[v] += ld(buf + VW * v);
                    }
                    if (bias)
                        for (int v = 0; v < 4; v++) out[v] += bias[o];
                    if (relu)
                        for (int v = 0; v < 4; v++) out[v] = (vf)((vi)out[v] & (out[v] > zero)); /* lanes <= 0 -> +0 */
                    if (cnt == 4 * VW) {
                        for (int v = 0; v < 4; v++) st(yr + x0 + VW * v, out[v]);
                    } else {
                        for (int v = 0; v < 4; v++) st(buf + VW * v, out[v]);
                        memcpy(yr + x0, buf, sizeof(float) * (size_t)cnt);
                    }
                }
            }
        }
    }
}
