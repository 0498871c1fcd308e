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
 * GCC/Clang vector extensions, from one source (bcq_conv_impl.h): 4-wide (SSE natively, SIMD128 in
 * WebAssembly) and 8-wide (AVX2, bcq_conv_avx2.c, chosen at run time on x86-64). Never allocates.
 */
#include "bcq_conv.h"
#include "bcq_conv_layout.h"
#include <string.h>

static size_t r16(size_t v) { return (v + 15) & ~(size_t)15; }
static int rup(int v, int m) { return (v + m - 1) / m * m; }

void fx_bcq_conv_layout(const fx_bcq_conv_geom *g, fx_bcq_layout *L) {
    L->G4 = (g->c_in + 3) / 4;
    L->Hp = (g->h_out - 1) * g->stride + g->k;
    L->Wv = rup(g->w_out, FX_BCQ_ROW);
    L->Wph = rup(L->Wv + (g->k - 1) / g->stride, FX_BCQ_ROW);
    L->RS = g->stride * L->Wph;
    L->PS = L->Hp * L->RS;
    L->nt = g->k * g->k * L->G4;
}

int fx_bcq_conv_supported(const fx_bcq_conv_geom *g) {
    return g->c_in >= 4 && g->k >= 1 && g->stride >= 1 && g->h_out >= 1 && g->w_out >= 1;
}

size_t fx_bcq_conv_ws_floats(const fx_bcq_conv_geom *g, int q_max) {
    fx_bcq_layout L;
    fx_bcq_conv_layout(g, &L);
    size_t tables = (size_t)L.G4 * 16 * L.PS, offs = (size_t)q_max * g->c_out * L.nt, tmp = (size_t)4 * L.RS;
    return r16(tables) + r16(offs) + r16(tmp);
}

size_t fx_bcq_conv_offsets_count(const fx_bcq_conv_geom *g, int q) {
    fx_bcq_layout L;
    fx_bcq_conv_layout(g, &L);
    return (size_t)q * g->c_out * L.nt;
}

/* Offsets into T of every (plane, output channel, tap, group) from the packed bits. */
void fx_bcq_conv_offsets(const fx_bcq_conv_geom *g, int q, const uint8_t *bits, int32_t *offs) {
    fx_bcq_layout Ls, *L = &Ls;
    fx_bcq_conv_layout(g, L);
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


#if defined(__x86_64__) && !defined(FX_NO_AVX2)
static int use_avx2(void) {
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return v;
}
#else
static int use_avx2(void) { return 0; }
#endif

void fx_bcq_conv(const fx_bcq_conv_geom *g, int n, int q, const uint8_t *bits, const int32_t *offs,
                 const float *alpha, const float *bias, const float *res, int relu, const float *x, float *y, float *ws) {
    fx_bcq_layout L;
    fx_bcq_conv_layout(g, &L);
    float *T = ws;
    int32_t *own = (int32_t *)(ws + r16((size_t)L.G4 * 16 * L.PS));
    float *tmp = (float *)own + r16((size_t)q * g->c_out * L.nt);
    if (!offs) {
        fx_bcq_conv_offsets(g, q, bits, own);
        offs = own;
    }
    if (use_avx2()) fx_bcq_conv_run_avx2(g, &L, n, q, offs, alpha, bias, res, relu, x, y, T, tmp);
    else fx_bcq_conv_run_v4(g, &L, n, q, offs, alpha, bias, res, relu, x, y, T, tmp);
}

/* The 4-wide kernel. */
#define VW 4
#define KFN fx_bcq_conv_run_v4
#define ATTR
#include "bcq_conv_impl.h"
