/*
 * data.c - files and datasets for the native CLI: whole-file reads, atomic writes, and loading MNIST /
 * CIFAR-10 from the cache that `node tools/fetch-data.mjs` fills, each file verified by size and SHA-256
 * (the sums of ../shared/data/CHECKSUMS.md) before the core's parsers see it.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "flexor: cannot open %s: %s\n", path, strerror(errno)); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); fprintf(stderr, "flexor: cannot seek %s\n", path); return NULL; }
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "flexor: cannot read %s (%ld bytes)%s\n", path, n, buf ? "" : ": out of memory");
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int cli_write_file(const char *path, const uint8_t *data, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "flexor: cannot create %s: %s\n", tmp, strerror(errno)); return 1; }
    int ok = fwrite(data, 1, len, f) == len;
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "flexor: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return 1;
    }
    return 0;
}

typedef struct { const char *file; size_t bytes; const char *sha256; } known_file;

static const known_file KNOWN[] = {
    {"mnist/train-images-idx3-ubyte", 47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
    {"mnist/train-labels-idx1-ubyte", 60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    {"mnist/t10k-images-idx3-ubyte", 7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
    {"mnist/t10k-labels-idx1-ubyte", 10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
    {"cifar10/data_batch_1.bin", 30730000, "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"},
    {"cifar10/data_batch_2.bin", 30730000, "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"},
    {"cifar10/data_batch_3.bin", 30730000, "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"},
    {"cifar10/data_batch_4.bin", 30730000, "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"},
    {"cifar10/data_batch_5.bin", 30730000, "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"},
    {"cifar10/test_batch.bin", 30730000, "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"},
};

static const char *data_root(const char *dir, char *buf, size_t n) {
    if (dir) return dir;
    const char *env = getenv("FLEXOR_DATA");
    if (env && *env) return env;
    const char *home = getenv("HOME");
    snprintf(buf, n, "%s/.cache/flexor-wasm/data", home ? home : ".");
    return buf;
}

/* Reads root/rel and checks it against the table; NULL (with a message) on any mismatch. */
static uint8_t *read_verified(const char *root, const char *rel, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    const known_file *k = NULL;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (!strcmp(KNOWN[i].file, rel)) k = &KNOWN[i];
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        fprintf(stderr, "flexor: dataset file %s is missing; fetch the datasets with `node tools/fetch-data.mjs all` "
                        "(or set FLEXOR_DATA / --data to where they are)\n", path);
        return NULL;
    }
    fclose(probe);
    uint8_t *buf = cli_read_file(path, len);
    if (!buf || !k) return buf;
    if (*len != k->bytes) {
        fprintf(stderr, "flexor: dataset file %s has %zu bytes, expected %zu (truncated or wrong file); "
                        "re-fetch with `node tools/fetch-data.mjs all`\n", path, *len, k->bytes);
        free(buf);
        return NULL;
    }
    char hex[65];
    cli_sha256_hex(buf, *len, hex);
    if (strcmp(hex, k->sha256)) {
        fprintf(stderr, "flexor: dataset file %s fails its checksum: sha256 %s, expected %s; re-fetch with "
                        "`node tools/fetch-data.mjs all`\n", path, hex, k->sha256);
        free(buf);
        return NULL;
    }
    return buf;
}

static int load_mnist(const char *root, int split, cli_data *out) {
    const char *fi = split ? "mnist/t10k-images-idx3-ubyte" : "mnist/train-images-idx3-ubyte";
    const char *fl = split ? "mnist/t10k-labels-idx1-ubyte" : "mnist/train-labels-idx1-ubyte";
    size_t li = 0, ll = 0;
    uint8_t *bi = read_verified(root, fi, &li), *bl = bi ? read_verified(root, fl, &ll) : NULL;
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    int ndi, ndl, di[4], dl[4], rc = 1;
    const uint8_t *pi, *pl;
    if (!bi || !bl) goto done;
    if (fx_idx_parse(ctx, bi, li, &ndi, di, &pi) || fx_idx_parse(ctx, bl, ll, &ndl, dl, &pl)) {
        fprintf(stderr, "flexor: %s\n", fx_ctx_message(ctx));
        goto done;
    }
    if (ndi != 3 || ndl != 1 || di[0] != dl[0]) {
        fprintf(stderr, "flexor: MNIST images (%d-d) and labels (%d-d) do not match\n", ndi, ndl);
        goto done;
    }
    size_t n = (size_t)di[0], sz = (size_t)di[1] * di[2];
    out->images = malloc(n * sz);
    out->labels = malloc(n);
    memcpy(out->images, pi, n * sz);
    memcpy(out->labels, pl, n);
    for (size_t i = 0; i < n; i++)
        if (out->labels[i] > 9) { fprintf(stderr, "flexor: MNIST label %zu is %u\n", i, out->labels[i]); goto done; }
    fx_dataset ds = {(int)n, 1, di[1], di[2], out->images, out->labels, {0.1307f}, {0.3081f}, 0};
    out->ds = ds;
    rc = 0;
done:
    free(bi);
    free(bl);
    fx_ctx_free(ctx);
    return rc;
}

static int load_cifar(const char *root, int split, cli_data *out) {
    int files = split ? 1 : 5, total = 0;
    out->images = malloc((size_t)files * 10000 * 3072);
    out->labels = malloc((size_t)files * 10000);
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    for (int f = 0; f < files; f++) {
        char rel[64];
        if (split) snprintf(rel, sizeof rel, "cifar10/test_batch.bin");
        else snprintf(rel, sizeof rel, "cifar10/data_batch_%d.bin", f + 1);
        size_t len = 0;
        uint8_t *buf = read_verified(root, rel, &len);
        int n = 0;
        if (!buf) { fx_ctx_free(ctx); return 1; }
        if (fx_cifar_parse(ctx, buf, len, &n, out->labels + total, out->images + (size_t)total * 3072)) {
            fprintf(stderr, "flexor: %s: %s\n", rel, fx_ctx_message(ctx));
            free(buf);
            fx_ctx_free(ctx);
            return 1;
        }
        total += n;
        free(buf);
    }
    fx_ctx_free(ctx);
    /* The normalisation of the pretrained reference models (ImageNet statistics), used for every model. */
    fx_dataset ds = {total, 3, 32, 32, out->images, out->labels, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0};
    out->ds = ds;
    return 0;
}

int cli_load_data(const char *name, int split, const char *dir, cli_data *out) {
    char buf[4096];
    const char *root = data_root(dir, buf, sizeof buf);
    memset(out, 0, sizeof *out);
    if (!strcmp(name, "mnist")) return load_mnist(root, split, out);
    if (!strcmp(name, "cifar10")) return load_cifar(root, split, out);
    fprintf(stderr, "flexor: unknown dataset '%s' (mnist or cifar10)\n", name);
    return 1;
}

void cli_free_data(cli_data *d) {
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
