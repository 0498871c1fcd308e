/*
 * bcq_conv.c - direct lookup-table convolution for binary-coded weights: the inference path of FleXOR convs
 * with at least 4 input channels. No im2col and no float weights.
 *
 *   y[o][p] = act( sum_pl alpha[pl][o] * sum_{c,kh,kw} B_pl[o][c][kh][kw] * xpad[c][p*s + (kh,kw)] + bias[o] + res[o][p] )
 *
 * The input channels are split into groups of 4. For every group and every padded input pixel, the 16
 * signed sums T[key] = sum_t (bit t of key ? +x_t : -x_t) of its 4 channels are tabulated once per image.
 * A weight nibble (4 channels at one kernel tap) then selects one table plane, and the tap selects a shift
 * of it: an output vector of 4 pixels is ONE vector load + add per (tap, channel group) instead of 4
 * multiply-adds, and - unlike the im2col form of bcq_lut.c - the tables are built once per input pixel,
 * not once per tap (k*k times fewer table builds, and no im2col copy at all).
 *
 * Table layout per image: T[group][key][py][phase][Wph]: padded row py, and the padded columns split into
 * `stride` phases (column j*stride + phase), so every tap reads a contiguous run for any stride. Each
 * (plane, output channel) gets a list of k*k*ceil(c_in/4) offsets into T, computed once per call from the
 * packed bits; the inner loop is then offset load, 4 vector loads, 4 vector adds. Output rows are padded to
 * a multiple of 4 pixels inside the tables; only the real pixels are stored.
 *
 * GCC/Clang vector extensions: SSE natively, SIMD128 in WebAssembly, from one source. Never allocates.
 */
#include "bcq_conv.h"
#include <string.h>

typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef int v4i __attribute__((vector_size(16), aligned(4)));

static inline v4 ld(const float *p) { v4 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v4 v) { memcpy(p, &v, sizeof v); }
static size_t r16(size_t v) { return (v + 15) & ~(size_t)15; }

typedef struct layout {
    int G4;   /* channel groups of 4 */
    int Hp;   /* padded rows that are read: (h_out - 1) * stride + k */
    int Wv;   /* output row width rounded up to whole vectors */
    int Wph;  /* floats per phase row: Wv + (k - 1) / stride, rounded up to 4 */
    int RS;   /* floats per padded row: stride * Wph */
    int PS;   /* floats per table plane (one key of one group): Hp * RS */
    int nt;   /* offsets per (plane, output channel): k * k * G4 */
} layout;

static void lay(const fx_bcq_conv_geom *g, layout *L) {
    L->G4 = (g->c_in + 3) / 4;
    L->Hp = (g->h_out - 1) * g->stride + g->k;
    L->Wv = (g->w_out + 3) & ~3;
    L->Wph = (L->Wv + (g->k - 1) / g->stride + 3) & ~3;
    L->RS = g->stride * L->Wph;
    L->PS = L->Hp * L->RS;
    L->nt = g->k * g->k * L->G4;
}

int fx_bcq_conv_supported(const fx_bcq_conv_geom *g) {
    return g->c_in >= 4 && g->k >= 1 && g->stride >= 1 && g->h_out >= 1 && g->w_out >= 1;
}

size_t fx_bcq_conv_ws_floats(const fx_bcq_conv_geom *g, int q_max) {
    layout L;
    lay(g, &L);
    size_t tables = (size_t)L.G4 * 16 * L.PS, offs = (size_t)q_max * g->c_out * L.nt, tmp = (size_t)4 * L.RS;
    return r16(tables) + r16(offs) + r16(tmp);
}

/* The 16 tables of every channel group of one image. tmp holds the 4 channels' padded, phase-split row. */
static void build_tables(const fx_bcq_conv_geom *g, const layout *L, const float *x, float *T, float *tmp) {
    int H = g->h, W = g->w, s = g->stride, pad = g->pad, RS = L->RS, PS = L->PS;
    for (int gi = 0; gi < L->G4; gi++) {
        float *Tg = T + (size_t)gi * 16 * PS;
        for (int py = 0; py < L->Hp; py++) {
            int iy = py - pad;
            for (int t = 0; t < 4; t++) {
                float *r = tmp + (size_t)t * RS;
                int c = 4 * gi + t;
                memset(r, 0, sizeof(float) * (size_t)RS);
                if (c >= g->c_in || iy < 0 || iy >= H) continue;
                const float *xr = x + ((size_t)c * H + iy) * W;
                if (s == 1) { /* columns pad .. pad + W - 1 hold the image row */
                    int n = W < L->Wph - pad ? W : L->Wph - pad;
                    if (n > 0) memcpy(r + pad, xr, sizeof(float) * (size_t)n);
                } else {
                    for (int ph = 0; ph < s; ph++)
                        for (int j = 0; j < L->Wph; j++) {
                            int ix = j * s + ph - pad;
                            if (ix >= 0 && ix < W) r[ph * L->Wph + j] = xr[ix];
                        }
                }
            }
            float *dst = Tg + (size_t)py * RS;
            for (int j = 0; j < RS; j += 4) {
                v4 x0 = ld(tmp + j), x1 = ld(tmp + RS + j), x2 = ld(tmp + 2 * RS + j), x3 = ld(tmp + 3 * RS + j);
                v4 a[4], b[4];
                a[0] = -x0 - x1; a[1] = x0 - x1; a[2] = -a[1]; a[3] = -a[0];
                b[0] = -x2 - x3; b[1] = x2 - x3; b[2] = -b[1]; b[3] = -b[0];
                for (int key = 0; key < 16; key++) st(dst + (size_t)key * PS + j, a[key & 3] + b[key >> 2]);
            }
        }
    }
}

size_t fx_bcq_conv_offsets_count(const fx_bcq_conv_geom *g, int q) {
    layout L;
    lay(g, &L);
    return (size_t)q * g->c_out * L.nt;
}

/* Offsets into T of every (plane, output channel, tap, group) from the packed bits. */
void fx_bcq_conv_offsets(const fx_bcq_conv_geom *g, int q, const uint8_t *bits, int32_t *offs) {
    layout Ls, *L = &Ls;
    lay(g, L);
    int k = g->k, s = g->stride, G = (g->c_in * k * k + 3) / 4;
    for (int pl = 0; pl < q; pl++)
        for (int o = 0; o < g->c_out; o++) {
            const uint8_t *b = bits + ((size_t)pl * g->c_out + o) * G;
            int32_t *of = offs + ((size_t)pl * g->c_out + o) * L->nt;
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++)
                    for (int gi = 0; gi < L->G4; gi++) {
                        int key = 0;
                        for (int t = 0; t < 4; t++) {
                            int c = 4 * gi + t;
                            if (c >= g->c_in) break;
                            int kidx = (c * k + kh) * k + kw;
                            key |= ((b[kidx >> 2] >> (kidx & 3)) & 1) << t;
                        }
                        *of++ = (gi * 16 + key) * L->PS + kh * L->RS + (kw % s) * L->Wph + kw / s;
                    }
        }
}

/* Sum of the table runs of one (plane, channel) for NV vectors starting at Tb. */
static inline __attribute__((always_inline)) void gather(int NV, int nt, const int32_t *of, const float *Tb, v4 *acc) {
    v4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int t = 0; t < nt; t++) {
        const float *p = Tb + of[t];
        a0 += ld(p);
        if (NV > 1) a1 += ld(p + 4);
        if (NV > 2) a2 += ld(p + 8);
        if (NV > 3) a3 += ld(p + 12);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

void fx_bcq_conv(const fx_bcq_conv_geom *g, int n, int q, const uint8_t *bits, const int32_t *offs,
                 const float *alpha, const float *bias, const float *res, int relu, const float *x, float *y, float *ws) {
    layout L;
    lay(g, &L);
    float *T = ws;
    int32_t *own = (int32_t *)(ws + r16((size_t)L.G4 * 16 * L.PS));
    float *tmp = (float *)own + r16((size_t)q * g->c_out * L.nt);
    if (!offs) {
        fx_bcq_conv_offsets(g, q, bits, own);
        offs = own;
    }
    int Ho = g->h_out, Wo = g->w_out, C = g->c_out;
    size_t xs = (size_t)g->c_in * g->h * g->w, ys = (size_t)C * Ho * Wo;
    const v4 zero = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        build_tables(g, &L, x + i * xs, T, tmp);
        float *yi = y + i * ys;
        const float *ri = res ? res + i * ys : NULL;
        for (int oy = 0; oy < Ho; oy++) {
            const float *Trow = T + (size_t)oy * g->stride * L.RS;
            for (int o = 0; o < C; o++) {
                float *yr = yi + ((size_t)o * Ho + oy) * Wo;
                const float *rr = ri ? ri + ((size_t)o * Ho + oy) * Wo : NULL;
                for (int x0 = 0; x0 < L.Wv; x0 += 16) {
                    int nv = (L.Wv - x0) / 4 < 4 ? (L.Wv - x0) / 4 : 4;
                    v4 out[4] = {zero, zero, zero, zero}, acc[4];
                    for (int pl = 0; pl < q; pl++) {
                        const int32_t *of = offs + ((size_t)pl * C + o) * L.nt;
                        if (nv == 4) gather(4, L.nt, of, Trow + x0, acc);
                        else if (nv == 3) gather(3, L.nt, of, Trow + x0, acc);
                        else if (nv == 2) gather(2, L.nt, of, Trow + x0, acc);
                        else gather(1, L.nt, of, Trow + x0, acc);
                        float a = alpha[(size_t)pl * C + o];
                        for (int v = 0; v < 4; v++) out[v] += a * acc[v];
                    }
                    int cnt = Wo - x0 < 16 ? Wo - x0 : 16;
                    float buf[16];
                    if (rr) {
                        memset(buf, 0, sizeof buf);
                        memcpy(buf, rr + x0, sizeof(float) * (size_t)cnt);
                        for (int v = 0; v < 4; v++) out[v] += ld(buf + 4 * v);
                    }
                    if (bias)
                        for (int v = 0; v < 4; v++) out[v] += bias[o];
                    if (relu)
                        for (int v = 0; v < 4; v++) out[v] = (v4)((v4i)out[v] & (out[v] > zero)); /* lanes <= 0 -> +0 */
                    if (cnt == 16) {
                        for (int v = 0; v < 4; v++) st(yr + x0 + 4 * v, out[v]);
                    } else {
                        for (int v = 0; v < 4; v++) st(buf + 4 * v, out[v]);
                        memcpy(yr + x0, buf, sizeof(float) * (size_t)cnt);
                    }
                }
            }
        }
    }
}
