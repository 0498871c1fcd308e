/* fxg.h - reader of the FXG1 golden files written by tools/gen_golden.py (docs/CORE.md). Test code only. */
#ifndef FX_FXG_H
#define FX_FXG_H
#include <stdint.h>

typedef struct { char name[96]; int dtype, ndim, dims[8]; long count; void *data; } fxg_tensor;
typedef struct { int n; fxg_tensor *t; unsigned char *buf; } fxg_file;

extern const char *fxt_golden_dir;
unsigned char *fxt_read_file(const char *path, long *len);
void fxt_print_diff_table(void);

/* Loads tests/golden/<name>; a missing or corrupt file fails the current test and returns 0. */
int fxg_load(fxg_file *f, const char *name);
void fxg_close(fxg_file *f);
const fxg_tensor *fxg_get(const fxg_file *f, const char *fmt, ...);
float *fxg_f32(const fxg_file *f, const char *name);
int32_t *fxg_i32(const fxg_file *f, const char *name);
long fxg_len(const fxg_file *f, const char *name);
int fxg_int(const fxg_file *f, const char *name);
float fxg_float(const fxg_file *f, const char *name);
uint64_t fxg_u64(const fxg_file *f, const char *name);
#endif
