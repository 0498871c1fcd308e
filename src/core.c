/*
 * core.c - contexts, status strings, error messages and the accounted allocator.
 *
 * Every allocation of the core goes through fx_alloc so that a context can cap memory (tests provoke
 * FX_ENOMEM with it) and count live blocks (tests prove that create/free cycles do not leak).
 */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each block carries a 64-byte header holding its size, so fx_free can account it. */
#define FX_HDR 64

fx_status fx_fail(fx_ctx *ctx, fx_status s, const char *fmt, ...) {
    if (!ctx) return s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    va_end(ap);
    ctx->last = s;
    return s;
}

fx_status fx_ctx_new(fx_ctx **out) {
    if (!out) return FX_EINVAL;
    *out = calloc(1, sizeof(fx_ctx));
    return *out ? FX_OK : FX_ENOMEM;
}

void fx_ctx_free(fx_ctx *ctx) { free(ctx); }

const char *fx_ctx_message(const fx_ctx *ctx) { return ctx ? ctx->msg : "no context"; }
fx_status fx_ctx_last_status(const fx_ctx *ctx) { return ctx ? ctx->last : FX_EINVAL; }

void fx_ctx_clear(fx_ctx *ctx) {
    if (!ctx) return;
    ctx->last = FX_OK;
    ctx->msg[0] = 0;
}

void fx_ctx_set_mem_limit(fx_ctx *ctx, size_t bytes) { if (ctx) ctx->mem_limit = bytes; }
void fx_ctx_set_threads(fx_ctx *ctx, int n) { if (ctx) ctx->threads = n < 1 ? 1 : n; }
size_t fx_ctx_mem_used(const fx_ctx *ctx) { return ctx ? ctx->mem_used : 0; }
size_t fx_ctx_live_blocks(const fx_ctx *ctx) { return ctx ? ctx->live_blocks : 0; }

const char *fx_status_str(fx_status s) {
    switch (s) {
    case FX_OK: return "ok";
    case FX_EINVAL: return "invalid argument";
    case FX_ESHAPE: return "shape mismatch";
    case FX_ENOMEM: return "out of memory";
    case FX_EFORMAT: return "malformed data";
    case FX_EVERSION: return "unsupported version";
    case FX_ENUMERIC: return "non-finite number";
    case FX_ESTATE: return "call out of order";
    case FX_EUNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

void *fx_alloc(fx_ctx *ctx, size_t bytes, const char *what) {
    size_t total = bytes + FX_HDR;
    if (total < bytes || bytes > ((size_t)-1) / 2) {
        fx_fail(ctx, FX_ENOMEM, "cannot allocate %zu bytes for %s: size overflows", bytes, what);
        return NULL;
    }
    if (ctx && ctx->mem_limit && ctx->mem_used + bytes > ctx->mem_limit) {
        fx_fail(ctx, FX_ENOMEM, "cannot allocate %zu bytes for %s: the memory limit of %zu bytes would be passed (%zu in use)",
                bytes, what, ctx->mem_limit, ctx->mem_used);
        return NULL;
    }
    size_t rounded = (total + FX_ALIGN - 1) & ~(size_t)(FX_ALIGN - 1);
    unsigned char *raw = aligned_alloc(FX_ALIGN, rounded);
    if (!raw) {
        fx_fail(ctx, FX_ENOMEM, "cannot allocate %zu bytes for %s: the system is out of memory", bytes, what);
        return NULL;
    }
    memset(raw, 0, total);
    memcpy(raw, &bytes, sizeof bytes);
    if (ctx) {
        ctx->mem_used += bytes;
        ctx->live_blocks++;
    }
    return raw + FX_HDR;
}

void fx_free(fx_ctx *ctx, void *p) {
    if (!p) return;
    unsigned char *raw = (unsigned char *)p - FX_HDR;
    size_t bytes;
    memcpy(&bytes, raw, sizeof bytes);
    if (ctx) {
        ctx->mem_used -= bytes;
        ctx->live_blocks--;
    }
    free(raw);
}
