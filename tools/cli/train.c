/*
 * train.c - `flexor train`, `flexor eval` and `flexor inspect`: the native trainer and evaluator.
 *
 * Training is deterministic for a given seed and build: the epoch permutation is derived from (seed,
 * epoch) and the augmentation stream from (seed, global step), so a run resumed from a checkpoint ends
 * exactly where an uninterrupted run would. Checkpoints (model file of kind checkpoint, with the run's
 * configuration and position as key=value text in the extra block) are written atomically every
 * --ckpt-every seconds and at the end of every epoch.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------------------
 * Configuration (also the checkpoint's extra block, as key=value lines)
 * ------------------------------------------------------------------------------------------------------- */

typedef struct cfg {
    char dataset[16], model[16], out[1024], ckpt[1024], init[1024], teacher[1024], data[1024];
    int q, nout, nin, ntap, stage_nin[3], fp, mode, opt, nesterov, batch, sched, n_milestones;
    float lr, momentum, wd, epochs, warmup, gamma, stanh, stanh0, alpha_init, lat_std, T, kd, init_mag;
    float milestones[FX_MAX_MILESTONES];
    unsigned long long seed;
    int train_limit, test_limit, ckpt_every, max_steps, eval_every, threads;
    /* run control, not kept in checkpoints: test every eval_steps optimiser steps; stop at target % */
    int eval_steps;
    float target;
    /* position */
    int epoch, step;
} cfg;

static const char *MODES[] = {"flexor", "ste", "analog"};
static const char *OPTS[] = {"sgd", "adam"};
static const char *SCHEDS[] = {"const", "step", "cosine"};

static int find(const char *const *names, int n, const char *v) {
    for (int i = 0; i < n; i++) if (!strcmp(names[i], v)) return i;
    return -1;
}

static void defaults(cfg *c, const char *dataset) {
    memset(c, 0, sizeof *c);
    snprintf(c->dataset, sizeof c->dataset, "%s", dataset);
    int mnist = !strcmp(dataset, "mnist");
    snprintf(c->model, sizeof c->model, "%s", mnist ? "lenet5" : "resnet20");
    c->q = 1; c->nout = 20; c->nin = 16; c->ntap = 2;
    c->stage_nin[0] = c->stage_nin[1] = c->stage_nin[2] = 0;
    c->mode = 0;
    c->opt = mnist ? 1 : 0;
    c->lr = mnist ? 1e-3f : 0.1f;
    c->momentum = 0.9f;
    c->wd = mnist ? 0.0f : 1e-5f;
    c->batch = mnist ? 64 : 128;
    c->epochs = mnist ? 10 : 30;
    c->warmup = mnist ? 0 : 2;
    c->sched = 2;
    c->gamma = 0.5f;
    c->stanh = mnist ? 100 : 10;
    c->stanh0 = mnist ? 100 : 5;
    c->alpha_init = mnist ? 0 : 0.2f;
    c->lat_std = 1e-3f;
    c->T = 4; c->kd = 0.9f; c->init_mag = 0;
    c->seed = 1;
    c->ckpt_every = 300;
    c->eval_every = 1;
    c->threads = 2;
}

static void to_text(const cfg *c, char *buf, size_t n) {
    char ms[256] = "";
    for (int i = 0; i < c->n_milestones; i++) {
        size_t l = strlen(ms);
        snprintf(ms + l, sizeof ms - l, "%s%g", i ? "," : "", (double)c->milestones[i]);
    }
    snprintf(buf, n,
             "dataset=%s\nmodel=%s\nq=%d\nnout=%d\nnin=%d\nntap=%d\nstage_nin=%d,%d,%d\nfp=%d\nmode=%s\nopt=%s\n"
             "nesterov=%d\nbatch=%d\nsched=%s\nmilestones=%s\nlr=%.9g\nmomentum=%.9g\nwd=%.9g\nepochs=%.9g\n"
             "warmup=%.9g\ngamma=%.9g\nstanh=%.9g\nstanh0=%.9g\nalpha_init=%.9g\nlat_std=%.9g\nT=%.9g\nkd=%.9g\n"
             "seed=%llu\ntrain_limit=%d\ntest_limit=%d\nteacher=%s\ninit=%s\nout=%s\nepoch=%d\nstep=%d\n",
             c->dataset, c->model, c->q, c->nout, c->nin, c->ntap, c->stage_nin[0], c->stage_nin[1], c->stage_nin[2],
             c->fp, MODES[c->mode], OPTS[c->opt], c->nesterov, c->batch, SCHEDS[c->sched], ms, (double)c->lr,
             (double)c->momentum, (double)c->wd, (double)c->epochs, (double)c->warmup, (double)c->gamma,
             (double)c->stanh, (double)c->stanh0, (double)c->alpha_init, (double)c->lat_std, (double)c->T,
             (double)c->kd, c->seed, c->train_limit, c->test_limit, c->teacher, c->init, c->out, c->epoch, c->step);
}

static int parse_list(const char *v, float *out, int max) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *t = strtok(buf, ","); t && n < max; t = strtok(NULL, ",")) out[n++] = strtof(t, NULL);
    return n;
}

/* Sets one option; returns 0 on success, 1 if the value is bad, 2 if the key is unknown. */
static int set_opt(cfg *c, const char *k, const char *v) {
#define STR(name) if (!strcmp(k, #name)) { snprintf(c->name, sizeof c->name, "%s", v); return 0; }
#define INT(name) if (!strcmp(k, #name)) { c->name = atoi(v); return 0; }
#define FLT(name) if (!strcmp(k, #name)) { c->name = strtof(v, NULL); return 0; }
    STR(dataset) STR(model) STR(out) STR(ckpt) STR(init) STR(teacher) STR(data)
    INT(q) INT(nout) INT(nin) INT(ntap) INT(fp) INT(nesterov) INT(batch) INT(train_limit) INT(test_limit)
    INT(ckpt_every) INT(max_steps) INT(threads) INT(epoch) INT(step) INT(eval_every)
    FLT(lr) FLT(momentum) FLT(wd) FLT(epochs) FLT(warmup) FLT(gamma) FLT(stanh) FLT(stanh0) FLT(alpha_init)
    FLT(lat_std) FLT(T) FLT(kd) FLT(init_mag)
#undef STR
#undef INT
#undef FLT
    if (!strcmp(k, "seed")) { c->seed = strtoull(v, NULL, 0); return 0; }
    if (!strcmp(k, "eval_steps")) { c->eval_steps = atoi(v); return c->eval_steps < 0; }
    if (!strcmp(k, "target")) { c->target = strtof(v, NULL); return !(c->target >= 0.0f && c->target <= 100.0f); }
    if (!strcmp(k, "mode")) return (c->mode = find(MODES, 3, v)) < 0;
    if (!strcmp(k, "opt")) return (c->opt = find(OPTS, 2, v)) < 0;
    if (!strcmp(k, "sched")) return (c->sched = find(SCHEDS, 3, v)) < 0;
    if (!strcmp(k, "milestones")) { c->n_milestones = *v ? parse_list(v, c->milestones, FX_MAX_MILESTONES) : 0; return 0; }
    if (!strcmp(k, "stage_nin")) {
        float s[3] = {0};
        if (parse_list(v, s, 3) != 3) return 1;
        for (int i = 0; i < 3; i++) c->stage_nin[i] = (int)s[i];
        return 0;
    }
    if (!strcmp(k, "bits")) { /* bits per weight with q planes: n_in = bits * n_out / q */
        float b = strtof(v, NULL);
        c->nin = (int)lroundf(b * (float)c->nout / (float)c->q);
        return c->nin < 1;
    }
    if (!strcmp(k, "random_fill")) { c->ntap = 0; return 0; }
    return 2;
}

static int from_text(cfg *c, const char *text, size_t len) {
    char line[1200];
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t l = j - i < sizeof line - 1 ? j - i : sizeof line - 1;
        memcpy(line, text + i, l);
        line[l] = 0;
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = 0;
            if (set_opt(c, line, eq + 1) == 1) return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * Model construction and initialisation
 * ------------------------------------------------------------------------------------------------------- */

static int die_ctx(fx_ctx *ctx, const char *what) {
    fprintf(stderr, "flexor: %s: %s\n", what, fx_ctx_message(ctx));
    return 1;
}

static fx_status build_model(fx_ctx *ctx, const cfg *c, fx_model **m) {
    fx_flexor_cfg fx = {c->nout, c->nin, c->ntap, c->q, c->seed};
    if (!strcmp(c->model, "lenet5")) {
        const fx_flexor_cfg *layers[4] = {&fx, &fx, &fx, &fx};
        return fx_model_lenet5(ctx, m, c->fp ? NULL : layers, c->batch, 1);
    }
    int depth = !strcmp(c->model, "resnet20") ? 20 : !strcmp(c->model, "resnet32") ? 32 : !strcmp(c->model, "resnet44") ? 44 : 0;
    if (!depth) {
        fprintf(stderr, "flexor train: unknown model '%s' (lenet5, resnet20, resnet32, resnet44)\n", c->model);
        return FX_EINVAL;
    }
    fx_flexor_cfg st[3] = {fx, fx, fx};
    for (int i = 0; i < 3; i++) if (c->stage_nin[i] > 0) st[i].n_in = c->stage_nin[i];
    return fx_model_resnet_cifar(ctx, m, depth, c->fp ? NULL : st, c->batch, 1);
}

/* Copies full-precision parameters from `src` (same graph, FP) and encrypts its conv weights into the
 * FleXOR layers of `m`. */
static int init_from(fx_ctx *ctx, fx_model *m, const char *path, const cfg *c) {
    size_t len;
    uint8_t *buf = cli_read_file(path, &len);
    if (!buf) return 1;
    fx_model *src = NULL;
    if (fx_model_load(ctx, buf, len, 1, 0, &src, NULL, NULL)) { free(buf); return die_ctx(ctx, path); }
    free(buf);
    int copied = 0, encrypted = 0;
    float mag = c->init_mag > 0 ? c->init_mag : 0.5f / c->stanh;
    fx_status st = fx_model_init_from(ctx, m, src, mag, c->seed, &copied, &encrypted);
    fx_model_free(ctx, src);
    if (st) return die_ctx(ctx, "--init");
    printf("init: %d parameters copied and %d layers encrypted from %s\n", copied, encrypted, path);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------------------------------------- */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fmt_time(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) s = 0;
    int h = (int)(s / 3600), mi = (int)(s / 60) % 60, se = (int)s % 60;
    if (h) snprintf(out, n, "%dh%02dm", h, mi);
    else snprintf(out, n, "%dm%02ds", mi, se);
}

static void limit(cli_data *d, int n) { if (n > 0 && n < d->ds.n) d->ds.n = n; }

static int save_ckpt(fx_ctx *ctx, fx_model *m, const cfg *c) {
    if (!c->ckpt[0]) return 0;
    char text[8192];
    to_text(c, text, sizeof text);
    uint8_t *buf;
    size_t len;
    if (fx_model_save(ctx, m, FX_SAVE_CHECKPOINT, text, (uint32_t)strlen(text), &buf, &len)) return die_ctx(ctx, "checkpoint");
    int rc = cli_write_file(c->ckpt, buf, len);
    fx_buffer_free(ctx, buf);
    return rc;
}

static int save_model(fx_ctx *ctx, fx_model *m, const cfg *c, double acc) {
    if (!c->out[0]) return 0;
    char text[8192];
    to_text(c, text, sizeof text);
    size_t l = strlen(text);
    snprintf(text + l, sizeof text - l, "test_accuracy=%.4f\n", acc);
    uint8_t *buf;
    size_t len;
    if (fx_model_save(ctx, m, FX_SAVE_INFERENCE, text, (uint32_t)strlen(text), &buf, &len)) return die_ctx(ctx, "save");
    int rc = cli_write_file(c->out, buf, len);
    fx_buffer_free(ctx, buf);
    if (!rc) printf("saved %s (%zu bytes)\n", c->out, len);
    return rc;
}

static double evaluate(fx_ctx *ctx, fx_model *m, const cli_data *test, float *x, double *secs) {
    int correct = 0;
    double t0 = now();
    if (fx_evaluate(ctx, m, &test->ds, x, &correct, NULL)) { die_ctx(ctx, "evaluate"); return -1; }
    if (secs) *secs = now() - t0;
    return 100.0 * correct / test->ds.n;
}

static double bits_per_weight(fx_ctx *ctx, fx_model *m, int64_t *nq) {
    double bits = 0;
    int64_t n = 0;
    for (int i = 0; i < fx_model_node_count(m); i++) {
        fx_node_info ni;
        fx_model_node_info(ctx, m, i, &ni);
        if (!ni.geom) continue;
        bits += (double)ni.geom->cfg.q * (double)ni.geom->n_slices * ni.geom->cfg.n_in;
        n += ni.geom->n;
    }
    if (nq) *nq = n;
    return n ? bits / (double)n : 32.0;
}

static int run_training(fx_ctx *ctx, cfg *c, fx_model *m, fx_model *teacher) {
    cli_data train, test;
    if (cli_load_data(c->dataset, 0, c->data[0] ? c->data : NULL, &train)) return 1;
    if (cli_load_data(c->dataset, 1, c->data[0] ? c->data : NULL, &test)) { cli_free_data(&train); return 1; }
    limit(&train, c->train_limit);
    limit(&test, c->test_limit);
    train.ds.augment = !strcmp(c->dataset, "cifar10");
    fx_train_cfg tc;
    memset(&tc, 0, sizeof tc);
    fx_schedule sch = {(fx_sched_kind)c->sched, c->lr, c->warmup, c->epochs, c->gamma, c->n_milestones, {0}, c->stanh, c->stanh0};
    memcpy(sch.milestones, c->milestones, sizeof sch.milestones);
    fx_optim_cfg opt = {(fx_optim_kind)c->opt, c->momentum, c->nesterov, 0.9f, 0.999f, 1e-8f, c->wd};
    tc.sched = sch; tc.opt = opt; tc.mode = (fx_bwd_mode)c->mode; tc.batch = c->batch; tc.seed = c->seed;
    tc.T = c->T; tc.kd = c->kd;
    fx_trainer *tr = NULL;
    fx_node_info in;
    fx_model_node_info(ctx, m, 0, &in);
    float *x = malloc(sizeof(float) * (size_t)in.c * in.h * in.w * (size_t)c->batch);
    int rc = 0, total_epochs = (int)ceilf(c->epochs);
    double t_start = now(), t_ckpt = t_start, best = 0, acc = 0, t_train = 0; /* t_train: inside training steps */
    int64_t done = 0, nq;
    double bpw = bits_per_weight(ctx, m, &nq);
    if (fx_trainer_new(ctx, &tr, m, teacher, &train.ds, &tc) || fx_trainer_seek(ctx, tr, c->epoch, c->step)) {
        rc = die_ctx(ctx, "trainer");
        goto out;
    }
    printf("threads %d; train %s %s: %s, %lld quantized weights at %.4f bits/weight (q=%d nout=%d nin=%d ntap=%d%s), "
           "mode %s, %s lr %g, batch %d, %d steps/epoch, %d epochs, seed %llu%s\n",
           c->threads, c->model, c->dataset, c->fp ? "full precision" : "FleXOR", (long long)nq, bpw, c->q, c->nout,
           c->nin, c->ntap, c->stage_nin[0] ? " per-stage" : "", MODES[c->mode], OPTS[c->opt], (double)c->lr, c->batch,
           train.ds.n / c->batch, total_epochs, c->seed, teacher ? ", distilling from the teacher" : "");
    fflush(stdout);
    for (;;) {
        double loss_sum = 0, t_log = now();
        int seen = 0, right = 0;
        fx_train_stats st;
        memset(&st, 0, sizeof st);
        do { /* ~10 s of steps between progress lines */
            int chunk = 8;
            if (c->max_steps > 0 && fx_model_steps(m) + chunk > c->max_steps) chunk = (int)(c->max_steps - fx_model_steps(m));
            if (c->eval_steps > 0 && c->eval_steps - (int)(fx_model_steps(m) % c->eval_steps) < chunk)
                chunk = c->eval_steps - (int)(fx_model_steps(m) % c->eval_steps);
            if (chunk <= 0) break;
            double t0 = now();
            if (fx_trainer_run(ctx, tr, chunk, &st)) { rc = die_ctx(ctx, "training step"); goto out; }
            t_train += now() - t0;
            loss_sum += st.loss_sum; seen += st.seen; right += st.correct; done += st.seen / c->batch;
            c->epoch = st.epoch;
            c->step = st.step;
            if (c->ckpt_every > 0 && now() - t_ckpt >= c->ckpt_every) {
                if ((rc = save_ckpt(ctx, m, c))) goto out;
                t_ckpt = now();
            }
        } while (!st.epoch_done && !st.run_done && now() - t_log < 10 &&
                 !(c->eval_steps > 0 && fx_model_steps(m) % c->eval_steps == 0));
        if (seen) {
            double t = now(), ips = (double)done * c->batch / (t - t_start);
            double left = ((double)c->epochs * st.steps_per_epoch - ((double)st.epoch * st.steps_per_epoch + st.step)) * c->batch / ips;
            char eta[32];
            fmt_time(left, eta, sizeof eta);
            int shown_epoch = st.epoch_done ? st.epoch : st.epoch + 1, shown_step = st.epoch_done ? st.steps_per_epoch : st.step;
            printf("epoch %d/%d step %d/%d loss %.4f train-acc %.2f%% lr %.5f S %.1f %.1f img/s ETA %s\n", shown_epoch,
                   total_epochs, shown_step, st.steps_per_epoch, loss_sum / seen, 100.0 * right / seen, (double)st.lr,
                   (double)st.s_tanh, ips, eta);
            fflush(stdout);
        }
        if (c->max_steps > 0 && fx_model_steps(m) >= c->max_steps) {
            rc = save_ckpt(ctx, m, c);
            printf("stopped after %lld optimiser steps (--max-steps); checkpoint %s\n", (long long)fx_model_steps(m), c->ckpt);
            goto out;
        }
        if (c->eval_steps > 0 && fx_model_steps(m) > 0 && fx_model_steps(m) % c->eval_steps == 0 && !st.epoch_done &&
            !st.run_done) {
            double es;
            acc = evaluate(ctx, m, &test, x, &es);
            if (acc < 0) { rc = 1; goto out; }
            if (acc > best) best = acc;
            char el[32], tt[32];
            fmt_time(now() - t_start, el, sizeof el);
            fmt_time(t_train, tt, sizeof tt);
            printf("step %lld test-acc %.2f%% (best %.2f%%), training time %s, elapsed %s\n", (long long)fx_model_steps(m),
                   acc, best, tt, el);
            fflush(stdout);
        }
        if (st.epoch_done || st.run_done) {
            if (st.epoch % c->eval_every == 0 || st.run_done || c->target > 0) {
                double es;
                acc = evaluate(ctx, m, &test, x, &es);
                if (acc < 0) { rc = 1; goto out; }
                if (acc > best) best = acc;
                char el[32];
                fmt_time(now() - t_start, el, sizeof el);
                printf("epoch %d/%d test-acc %.2f%% (best %.2f%%) on %d images, %.0f img/s eval, elapsed %s\n", st.epoch,
                       total_epochs, acc, best, test.ds.n, test.ds.n / es, el);
                fflush(stdout);
            }
            if ((rc = save_ckpt(ctx, m, c))) goto out;
            t_ckpt = now();
        }
        if (c->target > 0 && acc >= c->target) {
            char el[32], tt[32];
            fmt_time(now() - t_start, el, sizeof el);
            fmt_time(t_train, tt, sizeof tt);
            int64_t steps = fx_model_steps(m);
            printf("target %.2f%% reached: test-acc %.2f%% after %lld steps (%lld images, %.2f epochs), training time %s "
                   "(%.1f img/s), elapsed %s\n", (double)c->target, acc, (long long)steps, (long long)(steps * c->batch),
                   (double)steps / st.steps_per_epoch, tt, t_train > 0 ? (double)steps * c->batch / t_train : 0.0, el);
            break;
        }
        if (st.run_done) break;
    }
    rc = save_model(ctx, m, c, acc);
    char el[32];
    fmt_time(now() - t_start, el, sizeof el);
    printf("done: test accuracy %.2f%% (best %.2f%%), %.4f bits/weight, wall %s\n", acc, best, bpw, el);
out:
    fx_trainer_free(ctx, tr);
    free(x);
    cli_free_data(&train);
    cli_free_data(&test);
    return rc;
}

static int load_model_file(fx_ctx *ctx, const char *path, int batch, int training, fx_model **m, char **extra) {
    size_t len;
    uint8_t *buf = cli_read_file(path, &len);
    if (!buf) return 1;
    const uint8_t *x;
    uint32_t xl;
    if (fx_model_load(ctx, buf, len, batch, training, m, &x, &xl)) { free(buf); return die_ctx(ctx, path); }
    if (extra) {
        *extra = calloc(xl + 1, 1);
        if (xl) memcpy(*extra, x, xl);
    }
    free(buf);
    return 0;
}

int cmd_train(int argc, char **argv) {
    if (argc < 1) { fprintf(stderr, "flexor train: which dataset? (mnist or cifar10)\n"); return 2; }
    cfg c;
    defaults(&c, argv[0]);
    if (strcmp(argv[0], "mnist") && strcmp(argv[0], "cifar10")) {
        fprintf(stderr, "flexor train: unknown dataset '%s' (mnist or cifar10)\n", argv[0]);
        return 2;
    }
    int resume = 0;
    const char *bits = NULL; /* --bits is applied after every other option: it depends on --nout and --q */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) return cli_usage_error("train", a);
        char key[64];
        snprintf(key, sizeof key, "%s", a + 2);
        for (char *p = key; *p; p++) if (*p == '-') *p = '_';
        if (!strcmp(key, "resume")) { resume = 1; continue; }
        if (!strcmp(key, "random_fill")) { c.ntap = 0; continue; }
        if (!strcmp(key, "fp")) { c.fp = 1; continue; }
        if (i + 1 >= argc) return cli_usage_error("train", a);
        if (!strcmp(key, "bits")) { bits = argv[++i]; continue; }
        int r = set_opt(&c, key, argv[++i]);
        if (r == 2) return cli_usage_error("train", a);
        if (r == 1) { fprintf(stderr, "flexor train: bad value '%s' for %s\n", argv[i], a); return 2; }
    }
    if (bits && set_opt(&c, "bits", bits)) { fprintf(stderr, "flexor train: bad value '%s' for --bits\n", bits); return 2; }
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    fx_model *m = NULL, *teacher = NULL;
    int rc = 1;
    if (resume) {
        if (!c.ckpt[0]) { fprintf(stderr, "flexor train: --resume needs --ckpt FILE\n"); goto done; }
        char *extra = NULL, ckpt[1024], data[1024];
        int max_steps = c.max_steps, ckpt_every = c.ckpt_every, threads = c.threads, eval_steps = c.eval_steps;
        float target = c.target;
        snprintf(ckpt, sizeof ckpt, "%s", c.ckpt);
        snprintf(data, sizeof data, "%s", c.data);
        struct stat st;
        if (stat(ckpt, &st) != 0) { fprintf(stderr, "flexor train: no checkpoint at %s\n", ckpt); goto done; }
        /* the configuration comes from the checkpoint; only where to keep going and how is taken from the flags */
        cfg saved;
        defaults(&saved, c.dataset);
        size_t len;
        uint8_t *buf = cli_read_file(ckpt, &len);
        const uint8_t *x;
        uint32_t xl;
        if (!buf) goto done;
        if (fx_model_load(ctx, buf, len, 1, 0, &m, &x, &xl) || from_text(&saved, (const char *)x, xl)) {
            fprintf(stderr, "flexor train: cannot resume from %s: %s\n", ckpt, fx_ctx_message(ctx));
            free(buf);
            goto done;
        }
        fx_model_free(ctx, m);
        m = NULL;
        c = saved;
        snprintf(c.ckpt, sizeof c.ckpt, "%s", ckpt);
        snprintf(c.data, sizeof c.data, "%s", data);
        c.max_steps = max_steps;
        c.ckpt_every = ckpt_every;
        c.threads = threads;
        c.eval_steps = eval_steps;
        c.target = target;
        fx_ctx_set_threads(ctx, c.threads);
        if (fx_model_load(ctx, buf, len, c.batch, 1, &m, NULL, NULL)) { free(buf); rc = die_ctx(ctx, ckpt); goto done; }
        free(buf);
        free(extra);
        printf("resuming %s at epoch %d step %d (%lld optimiser steps)\n", ckpt, c.epoch + 1, c.step, (long long)fx_model_steps(m));
    } else {
        fx_ctx_set_threads(ctx, c.threads);
        if (build_model(ctx, &c, &m)) { rc = die_ctx(ctx, "model"); goto done; }
        if (fx_model_init_params(ctx, m, c.seed, c.alpha_init, c.lat_std)) { rc = die_ctx(ctx, "init"); goto done; }
        if (c.init[0] && init_from(ctx, m, c.init, &c)) goto done;
    }
    if (c.teacher[0] && load_model_file(ctx, c.teacher, c.batch, 0, &teacher, NULL)) goto done;
    rc = run_training(ctx, &c, m, teacher);
done:
    fx_model_free(ctx, m);
    fx_model_free(ctx, teacher);
    fx_ctx_free(ctx);
    return rc;
}

/* ---------------------------------------------------------------------------------------------------------
 * Evaluation and inspection
 * ------------------------------------------------------------------------------------------------------- */

int cmd_eval(int argc, char **argv) {
    if (argc < 1) { fprintf(stderr, "flexor eval: which model file?\n"); return 2; }
    const char *path = argv[0], *data = NULL, *preds_out = NULL;
    int lim = 0, batch = 100, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) lim = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--preds") && i + 1 < argc) preds_out = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else return cli_usage_error("eval", argv[i]);
    }
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    fx_model *m = NULL;
    int rc = 1;
    cli_data test = {0};
    fx_ctx_set_threads(ctx, threads);
    if (load_model_file(ctx, path, batch, 0, &m, NULL)) goto done;
    fx_node_info in;
    fx_model_node_info(ctx, m, 0, &in);
    if (cli_load_data(in.c == 1 ? "mnist" : "cifar10", 1, data, &test)) goto done;
    limit(&test, lim);
    float *x = malloc(sizeof(float) * (size_t)in.c * in.h * in.w * (size_t)batch);
    int32_t *preds = malloc(sizeof(int32_t) * (size_t)test.ds.n);
    int correct = 0;
    double t0 = now();
    if (fx_evaluate(ctx, m, &test.ds, x, &correct, preds)) { rc = die_ctx(ctx, "evaluate"); free(x); free(preds); goto done; }
    double dt = now() - t0;
    printf("%s: test accuracy %.2f%% (%d/%d), %.1f img/s (native, batch %d, %d thread%s)\n", path,
           100.0 * correct / test.ds.n, correct, test.ds.n, test.ds.n / dt, batch, threads, threads > 1 ? "s" : "");
    rc = 0;
    if (preds_out) {
        uint8_t *p8 = malloc((size_t)test.ds.n);
        for (int i = 0; i < test.ds.n; i++) p8[i] = (uint8_t)preds[i];
        rc = cli_write_file(preds_out, p8, (size_t)test.ds.n);
        free(p8);
    }
    free(x);
    free(preds);
done:
    cli_free_data(&test);
    fx_model_free(ctx, m);
    fx_ctx_free(ctx);
    return rc;
}

static const char *KINDS[] = {"input", "conv", "dense", "bn", "relu", "maxpool", "gap", "shortcut", "add"};

int cmd_inspect(int argc, char **argv) {
    if (argc < 1) { fprintf(stderr, "flexor inspect: which model file?\n"); return 2; }
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    fx_model *m = NULL;
    char *extra = NULL;
    size_t flen = 0;
    uint8_t *raw = cli_read_file(argv[0], &flen);
    free(raw);
    if (!raw || load_model_file(ctx, argv[0], 1, 0, &m, &extra)) { fx_ctx_free(ctx); return 1; }
    int64_t nq;
    double bpw = bits_per_weight(ctx, m, &nq);
    int64_t nparams = 0;
    for (int i = 0; i < fx_model_param_count(m); i++) {
        fx_param_info p;
        fx_model_param_info(ctx, m, i, &p);
        if (p.kind != FX_PARAM_LAT) nparams += p.len;
    }
    printf("%s: %zu bytes, %d nodes; %lld FleXOR weights at %.4f bits/weight, %lld other values (float32)\n", argv[0],
           flen, fx_model_node_count(m), (long long)nq, bpw, (long long)nparams);
    int64_t macs = 0;
    for (int i = 0; i < fx_model_node_count(m); i++) {
        fx_node_info ni;
        fx_model_node_info(ctx, m, i, &ni);
        macs += ni.macs;
        printf("  %3d %-8s in %3d", i, KINDS[ni.kind], ni.in0);
        if (ni.in1 >= 0) printf("+%-3d", ni.in1);
        else printf("    ");
        printf(" out %3dx%2dx%2d", ni.c, ni.h, ni.w);
        if (ni.kind == FX_NODE_CONV) printf("  k%d s%d p%d", ni.k, ni.stride, ni.pad);
        if (ni.geom)
            printf("  FleXOR q=%d n_out=%d n_in=%d n_tap=%d seed=%llu -> %.3f bits/weight", ni.geom->cfg.q,
                   ni.geom->cfg.n_out, ni.geom->cfg.n_in, ni.geom->cfg.n_tap, (unsigned long long)ni.geom->cfg.seed,
                   fx_flexor_bits_per_weight(ni.geom));
        printf("\n");
    }
    printf("  %.2f M multiply-adds per image\n", macs / 1e6);
    if (extra && *extra) printf("metadata:\n%s", extra);
    free(extra);
    fx_model_free(ctx, m);
    fx_ctx_free(ctx);
    return 0;
}

int cmd_export(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "flexor export: usage: export MODEL OUT (checkpoint or model in, inference model out)\n"); return 2; }
    fx_ctx *ctx;
    fx_ctx_new(&ctx);
    fx_model *m = NULL;
    char *extra = NULL;
    int rc = 1;
    if (load_model_file(ctx, argv[0], 1, 0, &m, &extra)) goto done;
    uint8_t *buf;
    size_t len;
    if (fx_model_save(ctx, m, FX_SAVE_INFERENCE, extra, (uint32_t)strlen(extra), &buf, &len)) { rc = die_ctx(ctx, "export"); goto done; }
    rc = cli_write_file(argv[1], buf, len);
    if (!rc) printf("exported %s -> %s (%zu bytes, %.4f bits/weight over FleXOR layers)\n", argv[0], argv[1], len, bits_per_weight(ctx, m, NULL));
    fx_buffer_free(ctx, buf);
done:
    free(extra);
    fx_model_free(ctx, m);
    fx_ctx_free(ctx);
    return rc;
}
