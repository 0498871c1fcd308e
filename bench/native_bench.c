/*
 * native_bench.c - the native column of bench/run.mjs: one workload of the FleXOR core (build/native/libflexor.a),
 * driven over stdin/stdout so the coordinator can interleave its timed repetitions with the other engines.
 *
 *   cc -std=c11 -O3 -Isrc bench/native_bench.c build/native/libflexor.a -lm -lpthread -o bench/out/native_bench
 *
 *   native_bench resnet  <depth> <fx:0|1> <batch> <threads> <params.bin> <input.bin> <logits-out.bin>
 *   native_bench lenet   <fx:0|1> <batch> <threads> <params.bin> <input.bin> <labels.bin>
 *   native_bench resnet-train <depth> <fx:0|1> <batch> <threads>   (W4: random weights, input and labels; SGD)
 *   native_bench conv    <n> <c_in> <h> <w> <c_out> <k> <stride> <pad> <threads>
 *
 * params.bin holds every parameter of the model in fx_model_param_info order (float32, exactly as the
 * wasm model dumped them), so the native model computes on the same weights as the wasm one; FleXOR layers
 * use the 0.8-bit configuration n_out 20, n_in 16, n_tap 2, q 1, seed 1 (the same as bench/run.mjs).
 * resnet writes the eval-mode logits of the input to logits-out.bin; lenet prints the loss of the first
 * training step. Then, on stdin:  "run N" -> N iterations, answers "t <seconds>";  "quit" -> exit.
 * One iteration: resnet = forward (eval) of the batch; lenet = forward (train) + backward + Adam step;
 * conv = fx_conv2d_forward of the batch (the threads argument is ignored: the kernel is single-threaded).
 */
#define _POSIX_C_SOURCE 199309L
#include "flexor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, fx_ctx *ctx) {
    fprintf(stderr, "native_bench: %s%s%s\n", what, ctx ? ": " : "", ctx ? fx_ctx_message(ctx) : "");
    exit(1);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die(path, NULL);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Copies params.bin into the model, parameter by parameter. */
static void load_params(fx_ctx *ctx, fx_model *m, const char *path) {
    size_t len;
    float *p = read_file(path, &len), *q = p;
    size_t need = 0;
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info pi;
        if (fx_model_param_info(ctx, m, i, &pi)) die("param info", ctx);
        need += (size_t)pi.len;
        if (need * 4 > len) die("params.bin is shorter than the model", NULL);
        memcpy(pi.data, q, (size_t)pi.len * 4);
        q += pi.len;
    }
    if (need * 4 != len) die("params.bin does not match the model's parameters", NULL);
    fx_model_touch(m);
    free(p);
}

static float *aligned_floats(size_t n) {
    float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64 + 64);
    if (!p) die("out of memory", NULL);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: see the header of bench/native_bench.c", NULL);
    const char *task = argv[1];
    fx_ctx *ctx;
    if (fx_ctx_new(&ctx)) die("fx_ctx_new", NULL);
    fx_model *m = NULL;
    float *x = NULL, *y = NULL, *w = NULL, *ws = NULL;
    int32_t *labels = NULL;
    int batch = 0, mode = 0;
    fx_conv_shape cs;
    fx_optim_cfg adam = {FX_OPT_ADAM, 0.0f, 0, 0.9f, 0.999f, 1e-8f, 0.0f};
    fx_optim_cfg sgd = {FX_OPT_SGD, 0.9f, 0, 0.9f, 0.999f, 1e-8f, 1e-5f};
    const fx_flexor_cfg fxc = {20, 16, 2, 1, 1};

    if (!strcmp(task, "resnet") && argc == 9) {
        int depth = atoi(argv[2]), fx = atoi(argv[3]);
        batch = atoi(argv[4]);
        fx_ctx_set_threads(ctx, atoi(argv[5]));
        fx_flexor_cfg st[3] = {fxc, fxc, fxc};
        if (fx_model_resnet_cifar(ctx, &m, depth, fx ? st : NULL, batch, 0)) die("fx_model_resnet_cifar", ctx);
        load_params(ctx, m, argv[6]);
        size_t len;
        x = read_file(argv[7], &len);
        if (len != (size_t)batch * 3 * 32 * 32 * 4) die("input.bin has the wrong size", NULL);
        const float *logits;
        if (fx_model_forward(ctx, m, x, batch, 0, &logits)) die("forward", ctx);
        FILE *f = fopen(argv[8], "wb");
        if (!f || fwrite(logits, 4, (size_t)batch * 10, f) != (size_t)batch * 10) die(argv[8], NULL);
        fclose(f);
        printf("ready\n");
        mode = 0;
    } else if (!strcmp(task, "lenet") && argc == 8) {
        int fx = atoi(argv[2]);
        batch = atoi(argv[3]);
        fx_ctx_set_threads(ctx, atoi(argv[4]));
        const fx_flexor_cfg *layers[4] = {&fxc, &fxc, &fxc, &fxc};
        if (fx_model_lenet5(ctx, &m, fx ? layers : NULL, batch, 1)) die("fx_model_lenet5", ctx);
        load_params(ctx, m, argv[5]);
        if (fx) fx_model_set_flexor(ctx, m, FX_BWD_FLEXOR, 10.0f);
        size_t len;
        x = read_file(argv[6], &len);
        if (len != (size_t)batch * 28 * 28 * 4) die("input.bin has the wrong size", NULL);
        labels = read_file(argv[7], &len);
        if (len != (size_t)batch * 4) die("labels.bin has the wrong size", NULL);
        const float *logits;
        float loss;
        if (fx_model_forward(ctx, m, x, batch, 1, &logits)) die("forward", ctx);
        if (fx_model_backward(ctx, m, labels, NULL, 1.0f, 0.0f, &loss)) die("backward", ctx);
        if (fx_model_step(ctx, m, &adam, 1e-3f)) die("step", ctx);
        printf("ready %.9g\n", (double)loss);
        mode = 1;
    } else if (!strcmp(task, "resnet-train") && argc == 6) {
        int depth = atoi(argv[2]), fx = atoi(argv[3]);
        batch = atoi(argv[4]);
        fx_ctx_set_threads(ctx, atoi(argv[5]));
        fx_flexor_cfg st[3] = {fxc, fxc, fxc};
        if (fx_model_resnet_cifar(ctx, &m, depth, fx ? st : NULL, batch, 1)) die("fx_model_resnet_cifar", ctx);
        if (fx_model_init_params(ctx, m, 1, 0.2f, 1e-3f)) die("init", ctx);
        if (fx) fx_model_set_flexor(ctx, m, FX_BWD_FLEXOR, 10.0f);
        x = aligned_floats((size_t)batch * 3 * 32 * 32);
        labels = malloc(sizeof(int32_t) * (size_t)batch);
        fx_rng r;
        fx_rng_seed(&r, 3);
        for (size_t i = 0; i < (size_t)batch * 3 * 32 * 32; i++) x[i] = fx_rng_normal(&r);
        for (int i = 0; i < batch; i++) labels[i] = (int32_t)(fx_rng_next(&r) % 10);
        printf("ready\n");
        mode = 3;
    } else if (!strcmp(task, "conv") && argc == 11) {
        int a[8];
        for (int i = 0; i < 8; i++) a[i] = atoi(argv[2 + i]);
        if (fx_conv_shape_init(ctx, &cs, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])) die("conv shape", ctx);
        size_t nx = (size_t)cs.n * cs.c_in * cs.h * cs.w, ny = (size_t)cs.n * cs.c_out * cs.h_out * cs.w_out,
               nw = (size_t)cs.c_out * cs.c_in * cs.k * cs.k;
        x = aligned_floats(nx);
        y = aligned_floats(ny);
        w = aligned_floats(nw);
        ws = aligned_floats(fx_conv2d_ws_floats(&cs));
        fx_rng r;
        fx_rng_seed(&r, 7);
        for (size_t i = 0; i < nx; i++) x[i] = fx_rng_normal(&r);
        for (size_t i = 0; i < nw; i++) w[i] = 0.1f * fx_rng_normal(&r);
        if (fx_conv2d_forward(ctx, &cs, y, x, w, NULL, ws)) die("conv forward", ctx);
        printf("ready\n");
        mode = 2;
    } else {
        die("bad arguments (see the header of bench/native_bench.c)", NULL);
    }
    fflush(stdout);

    char line[128];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "quit", 4)) break;
        long n = 0;
        if (sscanf(line, "run %ld", &n) != 1 || n < 1) die("expected 'run N' or 'quit'", NULL);
        const double t0 = now_s();
        for (long i = 0; i < n; i++) {
            const float *logits;
            if (mode == 0) {
                if (fx_model_forward(ctx, m, x, batch, 0, &logits)) die("forward", ctx);
            } else if (mode == 1) {
                float loss;
                if (fx_model_forward(ctx, m, x, batch, 1, &logits)) die("forward", ctx);
                if (fx_model_backward(ctx, m, labels, NULL, 1.0f, 0.0f, &loss)) die("backward", ctx);
                if (fx_model_step(ctx, m, &adam, 1e-3f)) die("step", ctx);
            } else if (mode == 3) {
                float loss;
                if (fx_model_forward(ctx, m, x, batch, 1, &logits)) die("forward", ctx);
                if (fx_model_backward(ctx, m, labels, NULL, 1.0f, 0.0f, &loss)) die("backward", ctx);
                if (fx_model_step(ctx, m, &sgd, 0.01f)) die("step", ctx);
            } else {
                if (fx_conv2d_forward(ctx, &cs, y, x, w, NULL, ws)) die("conv forward", ctx);
            }
        }
        printf("t %.9f\n", now_s() - t0);
        fflush(stdout);
    }
    if (m) fx_model_free(ctx, m);
    free(x);
    free(y);
    free(w);
    free(ws);
    free(labels);
    fx_ctx_free(ctx);
    return 0;
}
