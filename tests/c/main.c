/*
 * main.c - runs every C test suite; exits 1 if any check failed. Built natively (also under ASan/UBSan)
 * and as a WebAssembly module that tests/run-wasm.mjs runs in Node. Usage: fxtests [golden_dir]
 */
#include "fxg.h"
#include "fxtest.h"
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc > 1) fxt_golden_dir = argv[1];
    test_gemm();
    test_golden();
    test_gradcheck();
    test_errors();
    test_modelfile();
    test_lut();
    test_encrypt_suite();
    fxt_print_diff_table();
    printf("\n%d passed, %d failed\n", fxt_checks - fxt_fails, fxt_fails);
    return fxt_fails ? 1 : 0;
}
