/*
 * modelfile.c - the model file format (docs/FORMAT.md): writing, and reading with every field validated
 * before use. A file describes the graph (node records), then the parameters; FleXOR layers of inference
 * files store only the packed sign bits of their latent values plus what regenerates M (q, n_out, n_in,
 * n_tap, seed). Checkpoints keep latent floats and optimiser state so training resumes exactly.
 * All fields are little-endian and fixed width; a CRC-32 covers everything before the trailer.
 */
#include "../internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FXM_MAGIC "FXOR"
#define FXM_END "ROXF"
#define FXM_VERSION 1u
#define FXM_HEADER 32
#define FXM_NODE 64
#define FXM_PARAM_HDR 24

enum { ENC_F32 = 0, ENC_BITS = 1, ENC_F32_STATE = 2 };

/* ---------------------------------------------------------------------------------------------------------
 * Little-endian bytes and CRC-32 (IEEE 802.3, as zlib's crc32)
 * ------------------------------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static size_t pad4(size_t v) { return (v + 3) & ~(size_t)3; }

/* Floats as little-endian bytes (the hosts we build for are little-endian; memcpy keeps it portable to
 * any little-endian target and avoids aliasing problems). */
static void put_f32s(uint8_t *p, const float *v, int64_t n) { memcpy(p, v, (size_t)n * 4); }

/* ---------------------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------------------- */

static int param_encoding(const fx_param_info *pi, fx_save_kind kind) {
    if (kind == FX_SAVE_INFERENCE) return pi->kind == FX_PARAM_LAT ? ENC_BITS : ENC_F32;
    return pi->trainable ? ENC_F32_STATE : ENC_F32;
}

static uint64_t param_bytes(int enc, int64_t len) {
    if (enc == ENC_BITS) return (uint64_t)(len + 7) / 8;
    return (uint64_t)len * 4 * (enc == ENC_F32_STATE ? 3 : 1);
}

fx_status fx_model_save(fx_ctx *ctx, const fx_model *m, fx_save_kind kind, const void *extra, uint32_t extra_len,
                        uint8_t **buf, size_t *len) {
    static const char fn[] = "fx_model_save";
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, buf);
    FX_CHECK_PTR(ctx, fn, len);
    if (extra_len && !extra) return fx_fail(ctx, FX_EINVAL, "%s: extra is NULL but extra_len is %u", fn, extra_len);
    if (kind != FX_SAVE_INFERENCE && kind != FX_SAVE_CHECKPOINT) return fx_fail(ctx, FX_EINVAL, "%s: unknown kind %d", fn, (int)kind);
    if (!fx_model_max_batch(m)) return fx_fail(ctx, FX_ESTATE, "%s: the model is not built", fn);
    int nn = fx_model_node_count(m), np = fx_model_param_count(m);
    size_t total = FXM_HEADER + (size_t)(nn - 1) * FXM_NODE;
    fx_param_info pi;
    for (int i = 0; i < np; i++) {
        fx_model_param_info(ctx, m, i, &pi);
        total += FXM_PARAM_HDR + pad4((size_t)param_bytes(param_encoding(&pi, kind), pi.len));
    }
    total += 8 /* steps */ + 4 + pad4(extra_len) + 8 /* crc + end */;
    uint8_t *b = fx_alloc(ctx, total, "the model file");
    if (!b) return FX_ENOMEM;
    fx_node_info in;
    fx_model_node_info(ctx, m, 0, &in);
    memcpy(b, FXM_MAGIC, 4);
    put32(b + 4, FXM_VERSION);
    put32(b + 8, (uint32_t)kind);
    put32(b + 12, (uint32_t)nn);
    put32(b + 16, (uint32_t)np);
    put32(b + 20, (uint32_t)in.c);
    put32(b + 24, (uint32_t)in.h);
    put32(b + 28, (uint32_t)in.w);
    size_t off = FXM_HEADER;
    for (int id = 1; id < nn; id++, off += FXM_NODE) {
        fx_node_info ni;
        fx_model_node_info(ctx, m, id, &ni);
        const fx_flexor_cfg *c = ni.geom ? &ni.geom->cfg : NULL;
        int32_t v[16] = {ni.kind, ni.in0, ni.in1, ni.c_out, ni.k, ni.stride, ni.pad, ni.bias, ni.flexor,
                         c ? c->q : 0, c ? c->n_out : 0, c ? c->n_in : 0, c ? c->n_tap : 0, 0,
                         c ? (int32_t)(uint32_t)c->seed : 0, c ? (int32_t)(uint32_t)(c->seed >> 32) : 0};
        for (int k = 0; k < 16; k++) put32(b + off + 4 * k, (uint32_t)v[k]);
    }
    for (int i = 0; i < np; i++) {
        fx_model_param_info(ctx, m, i, &pi);
        int enc = param_encoding(&pi, kind);
        uint64_t nb = param_bytes(enc, pi.len);
        put32(b + off, (uint32_t)pi.node);
        put32(b + off + 4, (uint32_t)pi.kind);
        put32(b + off + 8, (uint32_t)enc);
        put32(b + off + 12, 0);
        put64(b + off + 16, (uint64_t)pi.len);
        off += FXM_PARAM_HDR;
        uint8_t *d = b + off;
        if (enc == ENC_BITS) {
            for (int64_t e = 0; e < pi.len; e++) d[e >> 3] |= (uint8_t)((pi.data[e] >= 0.0f) << (e & 7));
        } else {
            put_f32s(d, pi.data, pi.len);
            float *s1, *s2;
            fx__param_state(m, i, &s1, &s2);
            if (enc == ENC_F32_STATE && s1) { /* a model built for inference has no state: zeros (fx_alloc) */
                put_f32s(d + 4 * pi.len, s1, pi.len);
                put_f32s(d + 8 * pi.len, s2, pi.len);
            }
        }
        off += pad4((size_t)nb);
    }
    put64(b + off, kind == FX_SAVE_CHECKPOINT ? (uint64_t)fx_model_steps(m) : 0);
    off += 8;
    put32(b + off, extra_len);
    off += 4;
    if (extra_len) memcpy(b + off, extra, extra_len);
    off += pad4(extra_len);
    put32(b + off, crc32_ieee(b, off));
    memcpy(b + off + 4, FXM_END, 4);
    *buf = b;
    *len = off + 8;
    return FX_OK;
}

void fx_buffer_free(fx_ctx *ctx, void *buf) { fx_free(ctx, buf); }

/* ---------------------------------------------------------------------------------------------------------
 * Reading: structure first (sizes, CRC), then the graph through the validating builders, then params.
 * ------------------------------------------------------------------------------------------------------- */

#define BAD(...) do { st = fx_fail(ctx, FX_EFORMAT, __VA_ARGS__); goto fail; } while (0)

static fx_status add_node(fx_ctx *ctx, fx_model *m, int id, const int32_t *v) {
    static const char fn[] = "fx_model_load";
    int kind = v[0], in0 = v[1], in1 = v[2], c_out = v[3], k = v[4], stride = v[5], pad = v[6], bias = v[7];
    int flexor = v[8];
    fx_flexor_cfg cfg = {v[10], v[11], v[12], v[9], (uint64_t)(uint32_t)v[14] | (uint64_t)(uint32_t)v[15] << 32};
    if (in0 < 0 || in0 >= id) return fx_fail(ctx, FX_EFORMAT, "%s: node %d reads node %d, which does not come before it", fn, id, in0);
    if (v[13] != 0) return fx_fail(ctx, FX_EFORMAT, "%s: node %d: reserved field is %d, not 0", fn, id, v[13]);
    if (flexor != 0 && flexor != 1) return fx_fail(ctx, FX_EFORMAT, "%s: node %d: flexor flag %d is not 0 or 1", fn, id, flexor);
    if ((kind == FX_NODE_CONV || kind == FX_NODE_DENSE) && (c_out > 65536 || k > 15 || stride > 16 || bias < 0 || bias > 1))
        return fx_fail(ctx, FX_EFORMAT, "%s: node %d: absurd layer (c_out %d, k %d, stride %d, bias %d)", fn, id, c_out, k, stride, bias);
    const fx_flexor_cfg *fx = flexor ? &cfg : NULL;
    int got = -1;
    fx_status s;
    switch (kind) {
    case FX_NODE_CONV: s = fx_model_conv(ctx, m, in0, c_out, k, stride, pad, bias, fx, &got); break;
    case FX_NODE_DENSE: s = fx_model_dense(ctx, m, in0, c_out, bias, fx, &got); break;
    case FX_NODE_BN: s = fx_model_bn(ctx, m, in0, &got); break;
    case FX_NODE_RELU: s = fx_model_relu(ctx, m, in0, &got); break;
    case FX_NODE_MAXPOOL: s = fx_model_maxpool(ctx, m, in0, k, stride, &got); break;
    case FX_NODE_GAP: s = fx_model_gap(ctx, m, in0, &got); break;
    case FX_NODE_SHORTCUT: s = fx_model_shortcut(ctx, m, in0, c_out, stride, &got); break;
    case FX_NODE_ADD:
        if (in1 < 0 || in1 >= id) return fx_fail(ctx, FX_EFORMAT, "%s: node %d adds node %d, which does not come before it", fn, id, in1);
        s = fx_model_add(ctx, m, in0, in1, &got);
        break;
    default: return fx_fail(ctx, FX_EFORMAT, "%s: node %d has unknown kind %d", fn, id, kind);
    }
    if (s) {
        char msg[FX_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", fx_ctx_message(ctx));
        return fx_fail(ctx, FX_EFORMAT, "%s: node %d is inconsistent: %s", fn, id, msg);
    }
    return FX_OK;
}

fx_status fx_model_load(fx_ctx *ctx, const uint8_t *buf, size_t len, int max_batch, int training, fx_model **out,
                        const uint8_t **extra, uint32_t *extra_len) {
    static const char fn[] = "fx_model_load";
    FX_CHECK_PTR(ctx, fn, buf);
    FX_CHECK_PTR(ctx, fn, out);
    *out = NULL;
    fx_model *m = NULL;
    fx_status st;
    if (len < FXM_HEADER + 20) return fx_fail(ctx, FX_EFORMAT, "%s: truncated: %zu bytes is shorter than any model file", fn, len);
    if (memcmp(buf, FXM_MAGIC, 4))
        return fx_fail(ctx, FX_EFORMAT, "%s: wrong magic %02x %02x %02x %02x: not a FleXOR model file (expected \"FXOR\")", fn,
                       buf[0], buf[1], buf[2], buf[3]);
    uint32_t ver = get32(buf + 4);
    if (ver != FXM_VERSION)
        return fx_fail(ctx, FX_EVERSION, "%s: file format version %u; this build reads version %u", fn, ver, FXM_VERSION);
    uint32_t kind = get32(buf + 8), nn = get32(buf + 12), np = get32(buf + 16);
    uint32_t c = get32(buf + 20), h = get32(buf + 24), w = get32(buf + 28);
    if (kind > 1) return fx_fail(ctx, FX_EFORMAT, "%s: unknown file kind %u (0 inference, 1 checkpoint)", fn, kind);
    if (nn < 2 || nn > FX_MAX_NODES) return fx_fail(ctx, FX_EFORMAT, "%s: %u nodes (2..%d allowed)", fn, nn, FX_MAX_NODES);
    if (np > FX_MAX_PARAMS) return fx_fail(ctx, FX_EFORMAT, "%s: %u parameters (at most %d)", fn, np, FX_MAX_PARAMS);
    if (c < 1 || c > 64 || h < 1 || h > 4096 || w < 1 || w > 4096)
        return fx_fail(ctx, FX_EFORMAT, "%s: absurd input shape %ux%ux%u", fn, c, h, w);
    if (training && kind != 1)
        return fx_fail(ctx, FX_EINVAL, "%s: an inference file keeps only sign bits; training needs a checkpoint", fn);
    /* The trailer first: a truncated or corrupted file is reported as such before anything else. */
    if (memcmp(buf + len - 4, FXM_END, 4))
        return fx_fail(ctx, FX_EFORMAT, "%s: truncated or trailing garbage: the file does not end with \"ROXF\"", fn);
    uint32_t crc = get32(buf + len - 8), want = crc32_ieee(buf, len - 8);
    if (crc != want) return fx_fail(ctx, FX_EFORMAT, "%s: checksum mismatch (stored %08x, computed %08x): the file is corrupt", fn, crc, want);
    size_t body = len - 8;
    size_t off = FXM_HEADER + (size_t)(nn - 1) * FXM_NODE;
    if (off > body) return fx_fail(ctx, FX_EFORMAT, "%s: truncated inside the node records", fn);
    if ((st = fx_model_new(ctx, &m, (int)c, (int)h, (int)w))) return st;
    for (uint32_t id = 1; id < nn; id++) {
        int32_t v[16];
        for (int k = 0; k < 16; k++) v[k] = (int32_t)get32(buf + FXM_HEADER + (id - 1) * FXM_NODE + 4 * k);
        if ((st = add_node(ctx, m, (int)id, v))) goto fail;
    }
    if ((uint32_t)fx_model_param_count(m) != np)
        BAD("%s: the file lists %u parameters, its graph has %d", fn, np, fx_model_param_count(m));
    if ((st = fx_model_build(ctx, m, max_batch, training))) goto fail;
    for (uint32_t i = 0; i < np; i++) {
        fx_param_info pi;
        fx_model_param_info(ctx, m, (int)i, &pi);
        if (off + FXM_PARAM_HDR > body) BAD("%s: truncated at parameter %u (%s)", fn, i, pi.name);
        uint32_t node = get32(buf + off), pk = get32(buf + off + 4), enc = get32(buf + off + 8);
        uint64_t count = get64(buf + off + 16);
        if (get32(buf + off + 12)) BAD("%s: parameter %u (%s): reserved field is not 0", fn, i, pi.name);
        if (node != (uint32_t)pi.node || pk != (uint32_t)pi.kind || count != (uint64_t)pi.len)
            BAD("%s: parameter %u is node %u kind %u with %llu values; the graph expects %s with %lld", fn, i, node, pk,
                (unsigned long long)count, pi.name, (long long)pi.len);
        int want_enc = kind == 0 ? (pi.kind == FX_PARAM_LAT ? ENC_BITS : ENC_F32) : (pi.trainable ? ENC_F32_STATE : ENC_F32);
        if ((int)enc != want_enc) BAD("%s: parameter %s has encoding %u, expected %d", fn, pi.name, enc, want_enc);
        off += FXM_PARAM_HDR;
        uint64_t nb = param_bytes((int)enc, pi.len);
        if (nb > body - off || pad4((size_t)nb) > body - off) BAD("%s: truncated inside parameter %s", fn, pi.name);
        const uint8_t *d = buf + off;
        if (enc == ENC_BITS) {
            for (int64_t e = 0; e < pi.len; e++) pi.data[e] = (d[e >> 3] >> (e & 7)) & 1 ? 1.0f : -1.0f;
        } else {
            memcpy(pi.data, d, (size_t)pi.len * 4);
            for (int64_t e = 0; e < pi.len; e++)
                if (!isfinite(pi.data[e])) {
                    st = fx_fail(ctx, FX_ENUMERIC, "%s: parameter %s[%lld] is %g", fn, pi.name, (long long)e, (double)pi.data[e]);
                    goto fail;
                }
            if (pi.kind == FX_PARAM_RVAR)
                for (int64_t e = 0; e < pi.len; e++)
                    if (pi.data[e] < 0.0f) {
                        st = fx_fail(ctx, FX_EFORMAT, "%s: running variance %s[%lld] is negative (%g)", fn, pi.name,
                                     (long long)e, (double)pi.data[e]);
                        goto fail;
                    }
            if (enc == ENC_F32_STATE && training) {
                float *s1, *s2;
                fx__param_state(m, (int)i, &s1, &s2);
                memcpy(s1, d + 4 * pi.len, (size_t)pi.len * 4);
                memcpy(s2, d + 8 * pi.len, (size_t)pi.len * 4);
                for (int64_t e = 0; e < 2 * pi.len; e++)
                    if (!isfinite(e < pi.len ? s1[e] : s2[e - pi.len])) {
                        st = fx_fail(ctx, FX_ENUMERIC, "%s: optimiser state of %s is not finite", fn, pi.name);
                        goto fail;
                    }
            }
        }
        off += pad4((size_t)nb);
    }
    if (off + 12 > body) BAD("%s: truncated before the step count", fn);
    uint64_t steps = get64(buf + off);
    uint32_t xl = get32(buf + off + 8);
    off += 12;
    if (xl > body - off || pad4(xl) != body - off)
        BAD("%s: the extra block claims %u bytes but %zu remain before the trailer (truncated or trailing garbage)", fn, xl, body - off);
    if (kind == 0 && steps != 0) BAD("%s: an inference file with a step count (%llu)", fn, (unsigned long long)steps);
    if (steps > ((uint64_t)1 << 40)) BAD("%s: absurd step count %llu", fn, (unsigned long long)steps);
    fx__model_set_steps(m, (int64_t)steps);
    if (extra) *extra = xl ? buf + off : NULL;
    if (extra_len) *extra_len = xl;
    fx_model_touch(m);
    *out = m;
    return FX_OK;
fail:
    fx_model_free(ctx, m);
    return st;
}
