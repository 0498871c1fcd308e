/*
 * fxtest.h - the tiny test harness of the native and WASI test binaries (redis test_cond style).
 * A failed check prints where and why and is counted; the binary exits non-zero if any check failed.
 */
#ifndef FX_TEST_H
#define FX_TEST_H
#include <math.h>
#include <stdio.h>

extern int fxt_fails, fxt_checks;

#define FXT_CHECK(cond, ...) do { \
    fxt_checks++; \
    if (!(cond)) { fxt_fails++; printf("  FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

/* Compares n floats with |got - ref| <= atol + rtol*|ref|; prints the worst element; returns max abs diff. */
double fxt_close(const char *what, const float *got, const float *ref, long n, double atol, double rtol);
/* Exact comparison of n int32 values. */
int fxt_equal_i32(const char *what, const int *got, const int *ref, long n);

/* The suites (one per file), run by main.c. */
void test_golden(void);
void test_gemm(void);
void test_errors(void);
void test_gradcheck(void);
void test_modelfile(void);
void test_lut(void);
void test_encrypt_suite(void);

typedef void (*fxt_fn)(void);
void fxt_run(const char *name, fxt_fn fn);
#endif
