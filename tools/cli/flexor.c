/*
 * flexor.c - the native command-line program. Subcommands:
 *   flexor info                       build, version and the GEMM kernel in use
 *   flexor xor [--nout N] [--nin N] [--ntap N] [--seed S] [--plane P] [--bits HEX...]
 *                                     prints the XOR-gate network M and decrypts encrypted words
 *   flexor train mnist|cifar10 [--option value ...]   train, evaluate each epoch, checkpoint, save
 *   flexor eval MODEL [--limit N] [--preds FILE]      test-set accuracy and images/s
 *   flexor inspect MODEL                              layers, bits/weight, size, metadata
 *   flexor export MODEL OUT                           checkpoint -> deployable inference file
 *   (train, eval and inspect live in tools/cli/train.c)
 */
#include "flexor.h"
#include "../../src/kernels/gemm.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_info(void) {
    fx_gemm_init();
    printf("flexor %d.%d.%d, native build, gemm kernel: %s\n", FX_VERSION_MAJOR, FX_VERSION_MINOR, FX_VERSION_PATCH,
           fx_gemm_name());
    return 0;
}

static int cmd_xor(int argc, char **argv) {
    int n_out = 20, n_in = 8, n_tap = 2, plane = 0;
    unsigned long long seed = 1;
    int first_bits = argc;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--nout") && i + 1 < argc) n_out = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nin") && i + 1 < argc) n_in = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ntap") && i + 1 < argc) n_tap = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--plane") && i + 1 < argc) plane = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--bits")) { first_bits = i + 1; break; }
        else return cli_usage_error("xor", argv[i]);
    }
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    fx_xornet net;
    if (fx_xornet_init(ctx, &net, n_out, n_in, n_tap, seed, plane)) {
        fprintf(stderr, "flexor xor: %s\n", fx_ctx_message(ctx));
        fx_ctx_free(ctx);
        return 2;
    }
    printf("M (%d x %d, %s, seed %llu, plane %d): row r lists the encrypted bits XORed into decrypted bit r\n",
           n_out, n_in, n_tap ? "N_tap ones per row" : "random fill", seed, plane);
    for (int r = 0; r < n_out; r++) {
        printf("  y%-2d = ", r);
        for (int i = 0; i < n_in; i++) putchar((net.mask[r] >> i) & 1u ? '1' : '.');
        printf("   taps %d\n", net.taps[r]);
    }
    for (int i = first_bits; i < argc; i++) {
        uint32_t e = (uint32_t)strtoul(argv[i], NULL, 16), d;
        fx_flexor_decrypt(ctx, &net, &e, &d, 1);
        printf("enc 0x%0*x -> dec 0x%0*x  (", (n_in + 3) / 4, e, (n_out + 3) / 4, d);
        for (int r = 0; r < n_out; r++) putchar((d >> r) & 1u ? '+' : '-');
        printf(")\n");
    }
    fx_ctx_free(ctx);
    return 0;
}

int cli_usage_error(const char *cmd, const char *arg) {
    fprintf(stderr, "flexor %s: unknown or incomplete option '%s' (see 'flexor help')\n", cmd, arg);
    return 2;
}

static void usage(void) {
    printf("usage: flexor <command> [options]\n"
           "  info                         version and kernels\n"
           "  xor  [--nout 20] [--nin 8] [--ntap 2] [--seed 1] [--plane 0] [--bits HEX ...]\n"
           "                               print an XOR-gate network and decrypt words with it\n"
           "  train mnist|cifar10 [options]  e.g. --model lenet5 --bits 0.8 --nout 20 --ntap 2 --epochs 10 --out m.fxm\n"
           "      options (defaults depend on the dataset): --model lenet5|resnet20|resnet32 --bits B | --nin N\n"
           "      --nout N --ntap N | --random-fill --q Q --stage-nin a,b,c --fp --mode flexor|ste|analog\n"
           "      --opt sgd|adam --lr --momentum --nesterov 0|1 --wd --batch --epochs --warmup --sched const|step|cosine\n"
           "      --milestones e1,e2 --gamma --stanh S --stanh0 S0 --alpha-init A --lat-std X --seed N\n"
           "      --init FP.fxm (encrypt a full-precision model as the start) --teacher FP.fxm --T 4 --kd 0.9\n"
           "      --ckpt FILE --ckpt-every SECONDS --resume --max-steps N --train-limit N --test-limit N --data DIR\n"
           "      --eval-steps N (test every N steps) --target ACC (stop once the test accuracy reaches ACC %%)\n"
           "  eval MODEL [--limit N] [--batch B] [--preds FILE] [--data DIR]\n"
           "  inspect MODEL\n"
           "  export MODEL OUT             checkpoint or model file -> inference model (packed sign bits)\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) { usage(); return argc < 2 ? 2 : 0; }
    if (!strcmp(argv[1], "info")) return cmd_info();
    if (!strcmp(argv[1], "xor")) return cmd_xor(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "inspect")) return cmd_inspect(argc - 2, argv + 2);
    if (!strcmp(argv[1], "export")) return cmd_export(argc - 2, argv + 2);
    fprintf(stderr, "flexor: unknown command '%s' (see 'flexor help')\n", argv[1]);
    return 2;
}
