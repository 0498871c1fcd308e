/* cli.h - what the native command-line program's files share. */
#ifndef FX_CLI_H
#define FX_CLI_H
#include <stddef.h>
#include <stdint.h>
#include "flexor.h"

int cli_usage_error(const char *cmd, const char *arg);
void cli_sha256_hex(const uint8_t *data, size_t len, char out[65]);

/* Whole-file read; NULL with a message on stderr naming the file. */
uint8_t *cli_read_file(const char *path, size_t *len);
/* Atomic write (temp file + rename); 0 on success, else prints why. */
int cli_write_file(const char *path, const uint8_t *data, size_t len);

/* A loaded, checksum-verified dataset: train or test split of mnist or cifar10. */
typedef struct cli_data {
    fx_dataset ds;
    uint8_t *images, *labels;
} cli_data;
/* name: "mnist" or "cifar10"; split: 0 train, 1 test. dir: data root (NULL = $FLEXOR_DATA or
 * ~/.cache/flexor-wasm/data). Returns 0 on success; prints a clear message otherwise. */
int cli_load_data(const char *name, int split, const char *dir, cli_data *out);
void cli_free_data(cli_data *d);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
#endif
