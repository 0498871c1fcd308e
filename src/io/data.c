/*
 * data.c - dataset parsing and batching: the one IDX reader (MNIST) and CIFAR-10 binary reader that every
 * entry point uses (native CLI, Node, the page), normalisation, augmentation, permutations, evaluation.
 * Parsers work on bytes in memory, so the same code serves files, HTTP responses and tests.
 */
#include "../internal.h"
#include <string.h>

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

fx_status fx_idx_parse(fx_ctx *ctx, const uint8_t *buf, size_t len, int *ndim, int dims[4], const uint8_t **data) {
    static const char fn[] = "fx_idx_parse";
    FX_CHECK_PTR(ctx, fn, buf);
    FX_CHECK_PTR(ctx, fn, ndim);
    FX_CHECK_PTR(ctx, fn, dims);
    FX_CHECK_PTR(ctx, fn, data);
    if (len < 4) return fx_fail(ctx, FX_EFORMAT, "%s: %zu bytes is too short for an IDX header", fn, len);
    if (buf[0] != 0 || buf[1] != 0)
        return fx_fail(ctx, FX_EFORMAT, "%s: bad magic %02x %02x (an IDX file starts with two zero bytes)", fn, buf[0], buf[1]);
    if (buf[2] != 0x08) return fx_fail(ctx, FX_EFORMAT, "%s: element type 0x%02x is not unsigned byte (0x08)", fn, buf[2]);
    int nd = buf[3];
    if (nd < 1 || nd > 4) return fx_fail(ctx, FX_EFORMAT, "%s: rank %d is outside 1..4", fn, nd);
    if (len < 4 + 4 * (size_t)nd) return fx_fail(ctx, FX_EFORMAT, "%s: truncated header (%zu bytes)", fn, len);
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        if (d == 0 || d > (1u << 30)) return fx_fail(ctx, FX_EFORMAT, "%s: dimension %d is %u", fn, i, d);
        dims[i] = (int)d;
        total *= d;
        if (total > ((uint64_t)1 << 34)) return fx_fail(ctx, FX_EFORMAT, "%s: absurd size", fn);
    }
    size_t need = 4 + 4 * (size_t)nd + (size_t)total;
    if (len < need) return fx_fail(ctx, FX_EFORMAT, "%s: truncated: the header promises %zu bytes, the file has %zu", fn, need, len);
    if (len > need) return fx_fail(ctx, FX_EFORMAT, "%s: %zu bytes of trailing garbage after the data", fn, len - need);
    *ndim = nd;
    *data = buf + 4 + 4 * nd;
    return FX_OK;
}

#define CIFAR_REC 3073

fx_status fx_cifar_parse(fx_ctx *ctx, const uint8_t *buf, size_t len, int *n, uint8_t *labels, uint8_t *images) {
    static const char fn[] = "fx_cifar_parse";
    FX_CHECK_PTR(ctx, fn, buf);
    FX_CHECK_PTR(ctx, fn, n);
    if (len == 0 || len % CIFAR_REC)
        return fx_fail(ctx, FX_EFORMAT, "%s: %zu bytes is not a whole number of 3073-byte CIFAR-10 records", fn, len);
    size_t cnt = len / CIFAR_REC;
    for (size_t i = 0; i < cnt; i++)
        if (buf[i * CIFAR_REC] > 9)
            return fx_fail(ctx, FX_EFORMAT, "%s: record %zu has label %u (CIFAR-10 labels are 0..9)", fn, i, buf[i * CIFAR_REC]);
    for (size_t i = 0; i < cnt; i++) {
        if (labels) labels[i] = buf[i * CIFAR_REC];
        if (images) memcpy(images + i * 3072, buf + i * CIFAR_REC + 1, 3072);
    }
    *n = (int)cnt;
    return FX_OK;
}

void fx_permutation(int32_t *perm, int n, uint64_t seed) {
    fx_rng r;
    fx_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fx_rng_below(&r, (uint32_t)(i + 1));
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

fx_status fx_dataset_batch(fx_ctx *ctx, const fx_dataset *ds, const int32_t *idx, int n, fx_rng *rng, float *x,
                           int32_t *labels) {
    static const char fn[] = "fx_dataset_batch";
    FX_CHECK_PTR(ctx, fn, ds);
    FX_CHECK_PTR(ctx, fn, idx);
    FX_CHECK_PTR(ctx, fn, x);
    if (ds->c < 1 || ds->c > 3) return fx_fail(ctx, FX_ESHAPE, "%s: %d channels (1..3 supported)", fn, ds->c);
    if (ds->augment && !rng) return fx_fail(ctx, FX_EINVAL, "%s: augmentation needs an rng", fn);
    int c = ds->c, h = ds->h, w = ds->w, sz = c * h * w;
    float scale[3], shift[3];
    for (int ch = 0; ch < c; ch++) {
        if (!(ds->std[ch] > 0.0f)) return fx_fail(ctx, FX_EINVAL, "%s: std of channel %d is %g", fn, ch, (double)ds->std[ch]);
        scale[ch] = 1.0f / (255.0f * ds->std[ch]);
        shift[ch] = -ds->mean[ch] / ds->std[ch];
    }
    for (int b = 0; b < n; b++) {
        if (idx[b] < 0 || idx[b] >= ds->n) return fx_fail(ctx, FX_EINVAL, "%s: sample %d is outside 0..%d", fn, idx[b], ds->n - 1);
        const uint8_t *img = ds->images + (size_t)idx[b] * sz;
        float *dst = x + (size_t)b * sz;
        int dy = 0, dx = 0, flip = 0;
        if (ds->augment) {
            dy = (int)fx_rng_below(rng, 9) - 4;
            dx = (int)fx_rng_below(rng, 9) - 4;
            flip = (int)fx_rng_below(rng, 2);
        }
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    int sy = y + dy, sx = (flip ? w - 1 - xx : xx) + dx;
                    /* padded pixels are zero in [0,1] pixel space, as torchvision's RandomCrop(padding=4) */
                    float v = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? img[(ch * h + sy) * w + sx] : 0.0f;
                    dst[(ch * h + y) * w + xx] = v * scale[ch] + shift[ch];
                }
        if (labels) labels[b] = ds->labels[idx[b]];
    }
    return FX_OK;
}

fx_status fx_evaluate(fx_ctx *ctx, fx_model *m, const fx_dataset *ds, float *x_buf, int *correct, int32_t *preds) {
    static const char fn[] = "fx_evaluate";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, ds);
    FX_CHECK_PTR(ctx, fn, x_buf);
    FX_CHECK_PTR(ctx, fn, correct);
    fx_dataset plain = *ds;
    plain.augment = 0;
    fx_node_info in;
    fx_status s = fx_model_node_info(ctx, m, 0, &in);
    if (s) return s;
    if (in.c != ds->c || in.h != ds->h || in.w != ds->w)
        return fx_fail(ctx, FX_ESHAPE, "%s: the model takes %dx%dx%d inputs, the dataset has %dx%dx%d", fn, in.c, in.h,
                       in.w, ds->c, ds->h, ds->w);
    int bs = fx_model_max_batch(m), k = 0, ok = 0;
    int32_t idx[1024];
    if (bs > 1024) bs = 1024;
    fx_node_info last;
    fx_model_node_info(ctx, m, fx_model_node_count(m) - 1, &last);
    for (int i = 0; i < ds->n; i += bs) {
        int n = ds->n - i < bs ? ds->n - i : bs;
        for (int b = 0; b < n; b++) idx[b] = i + b;
        const float *z;
        if ((s = fx_dataset_batch(ctx, &plain, idx, n, NULL, x_buf, NULL))) return s;
        if ((s = fx_model_forward(ctx, m, x_buf, n, 0, &z))) return s;
        k = last.c;
        for (int b = 0; b < n; b++) {
            int best = 0;
            for (int j = 1; j < k; j++) if (z[b * k + j] > z[b * k + best]) best = j;
            if (preds) preds[i + b] = best;
            ok += best == ds->labels[i + b];
        }
    }
    *correct = ok;
    return FX_OK;
}
