/*
 * fxtest.c - the test harness (checks, tolerant comparisons, per-tensor-type max-difference table) and the
 * FXG golden-file reader. Files are read through fxt_read_file: stdio natively, and a host import under
 * WebAssembly (Emscripten's standalone modules have no file system; tests/run-wasm.mjs provides it).
 */
#include "fxtest.h"
#include "fxg.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int fxt_fails, fxt_checks;

/* ---------------------------------------------------------------------------------------------------------
 * Max-difference table: every fxt_close call records its worst |got - ref| under a type label.
 * ------------------------------------------------------------------------------------------------------- */

#define FXT_MAX_TYPES 128
static struct { char what[48]; double maxdiff, maxrel; long n; } types[FXT_MAX_TYPES];
static int n_types;

static void record(const char *what, double d, double rel) {
    if (!strchr(what, '.')) return; /* only golden tensors ("case.field") go into the table */
    char key[48];
    const char *dot = strrchr(what, '.'); /* "conv0.dw" -> type "conv.dw": strip digits of the case id */
    size_t k = 0;
    for (const char *p = what; *p && k < sizeof key - 1; p++)
        if (!(p < dot && *p >= '0' && *p <= '9')) key[k++] = *p;
    key[k] = 0;
    for (int i = 0; i < n_types; i++)
        if (!strcmp(types[i].what, key)) {
            if (d > types[i].maxdiff) types[i].maxdiff = d;
            if (rel > types[i].maxrel) types[i].maxrel = rel;
            types[i].n++;
            return;
        }
    if (n_types < FXT_MAX_TYPES) {
        snprintf(types[n_types].what, sizeof types[n_types].what, "%s", key);
        types[n_types].maxdiff = d;
        types[n_types].maxrel = rel;
        types[n_types++].n = 1;
    }
}

void fxt_print_diff_table(void) {
    printf("\n  largest difference per tensor type (|got-ref|, and relative to max|ref|):\n");
    for (int i = 0; i < n_types; i++)
        printf("    %-28s %10.3e  %10.3e  (%ld tensors)\n", types[i].what, types[i].maxdiff, types[i].maxrel, types[i].n);
}

double fxt_close(const char *what, const float *got, const float *ref, long n, double atol, double rtol) {
    double worst = 0.0, scale = 0.0, worst_excess = 0.0;
    long bad = -1;
    for (long i = 0; i < n; i++) {
        double r = ref[i], g = got[i], d = fabs(g - r);
        if (fabs(r) > scale) scale = fabs(r);
        if (!(d <= atol + rtol * fabs(r))) { /* NaN-safe */
            double ex = isnan(d) ? INFINITY : d - (atol + rtol * fabs(r));
            if (bad < 0 || ex > worst_excess) { bad = i; worst_excess = ex; }
        }
        if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
    }
    record(what, worst, scale > 0 ? worst / scale : worst);
    fxt_checks++;
    if (bad >= 0) {
        fxt_fails++;
        printf("  FAIL %s: element %ld got %.9g want %.9g (atol %g rtol %g); max diff %.3e over %ld\n", what, bad,
               (double)got[bad], (double)ref[bad], atol, rtol, worst, n);
        printf("       first values got:");
        for (long i = 0; i < n && i < 5; i++) printf(" %.6g", (double)got[i]);
        printf("\n                    want:");
        for (long i = 0; i < n && i < 5; i++) printf(" %.6g", (double)ref[i]);
        printf("\n");
    }
    return worst;
}

int fxt_equal_i32(const char *what, const int *got, const int *ref, long n) {
    fxt_checks++;
    for (long i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            fxt_fails++;
            printf("  FAIL %s: element %ld is %d, want %d (exact)\n", what, i, got[i], ref[i]);
            return 0;
        }
    record(what, 0.0, 0.0);
    return 1;
}

void fxt_run(const char *name, fxt_fn fn) {
    int before = fxt_fails, checks = fxt_checks;
    fn();
    printf("%s %s (%d checks)\n", fxt_fails == before ? "ok  " : "FAIL", name, fxt_checks - checks);
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------------------- */

#ifdef __wasm__
__attribute__((import_module("fxtest"), import_name("file_size"))) long long fxt_host_file_size(const char *path);
__attribute__((import_module("fxtest"), import_name("file_read"))) int fxt_host_file_read(const char *path, void *dst, long long n);

unsigned char *fxt_read_file(const char *path, long *len) {
    long long n = fxt_host_file_size(path);
    if (n < 0) return NULL;
    unsigned char *buf = malloc((size_t)n + 1);
    if (!buf || fxt_host_file_read(path, buf, n) != 0) { free(buf); return NULL; }
    *len = (long)n;
    return buf;
}
#else
unsigned char *fxt_read_file(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return NULL; }
    fclose(f);
    *len = n;
    return buf;
}
#endif

/* ---------------------------------------------------------------------------------------------------------
 * FXG golden files (docs/CORE.md "Golden files")
 * ------------------------------------------------------------------------------------------------------- */

const char *fxt_golden_dir = "tests/golden";

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int fxg_load(fxg_file *f, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", fxt_golden_dir, name);
    memset(f, 0, sizeof *f);
    long len = 0;
    f->buf = fxt_read_file(path, &len);
    FXT_CHECK(f->buf != NULL, "cannot read golden file %s (regenerate with npm run golden)", path);
    if (!f->buf) return 0;
    FXT_CHECK(len >= 8 && !memcmp(f->buf, "FXG1", 4), "%s is not an FXG1 file", path);
    if (len < 8 || memcmp(f->buf, "FXG1", 4)) return 0;
    uint32_t count = rd32(f->buf + 4);
    f->t = calloc(count ? count : 1, sizeof(fxg_tensor));
    long off = 8;
    for (uint32_t i = 0; i < count; i++) {
        fxg_tensor *t = &f->t[i];
        if (off + 4 > len) goto bad;
        uint32_t nl = rd32(f->buf + off); off += 4;
        if (nl >= sizeof t->name || off + (long)nl + 8 > len) goto bad;
        memcpy(t->name, f->buf + off, nl); off += nl;
        t->dtype = (int)rd32(f->buf + off); off += 4;
        t->ndim = (int)rd32(f->buf + off); off += 4;
        if (t->ndim > 8 || off + 4L * t->ndim > len) goto bad;
        t->count = 1;
        for (int d = 0; d < t->ndim; d++) { t->dims[d] = (int)rd32(f->buf + off); off += 4; t->count *= t->dims[d]; }
        if (off + 4 * t->count > len) goto bad;
        t->data = malloc((size_t)(4 * t->count) + 4);
        memcpy(t->data, f->buf + off, (size_t)(4 * t->count)); /* little-endian host assumed (x86, wasm) */
        off += 4 * t->count;
        f->n++;
    }
    return 1;
bad:
    FXT_CHECK(0, "%s is truncated or corrupt at byte %ld", path, off);
    return 0;
}

void fxg_close(fxg_file *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].data);
    free(f->t);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

const fxg_tensor *fxg_get(const fxg_file *f, const char *fmt, ...) {
    char name[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    FXT_CHECK(0, "golden tensor %s is missing", name);
    return NULL;
}

/* Missing tensors fail the test once and yield a zeroed dummy, so callers need no NULL checks. */
static float dummy[1 << 16];

float *fxg_f32(const fxg_file *f, const char *name) {
    const fxg_tensor *t = fxg_get(f, "%s", name);
    return t ? (float *)t->data : dummy;
}
int32_t *fxg_i32(const fxg_file *f, const char *name) {
    const fxg_tensor *t = fxg_get(f, "%s", name);
    return t ? (int32_t *)t->data : (int32_t *)dummy;
}
long fxg_len(const fxg_file *f, const char *name) {
    const fxg_tensor *t = fxg_get(f, "%s", name);
    return t ? t->count : 0;
}
int fxg_int(const fxg_file *f, const char *name) { return fxg_i32(f, name)[0]; }
float fxg_float(const fxg_file *f, const char *name) { return fxg_f32(f, name)[0]; }
uint64_t fxg_u64(const fxg_file *f, const char *name) {
    const uint32_t *p = (const uint32_t *)fxg_i32(f, name);
    return (uint64_t)p[0] | (uint64_t)p[1] << 32;
}
