/*
 * train.c - the training loop shared by every entry point: epoch permutations, augmented batches,
 * LR and S_tanh schedules, optional distillation from a teacher model, optimiser steps.
 */
#include "internal.h"
#include <math.h>
#include <string.h>

struct fx_trainer {
    fx_model *m, *teacher;
    const fx_dataset *ds;
    fx_train_cfg cfg;
    int epoch, step, steps_per_epoch, classes, perm_epoch;
    size_t sample;        /* floats per input sample */
    float *x, *tlogits;
    int32_t *labels, *perm;
};

static int model_classes(fx_ctx *ctx, const fx_model *m) {
    fx_node_info last;
    fx_model_node_info(ctx, m, fx_model_node_count(m) - 1, &last);
    return last.c * last.h * last.w;
}

fx_status fx_trainer_new(fx_ctx *ctx, fx_trainer **out, fx_model *m, fx_model *teacher, const fx_dataset *train,
                         const fx_train_cfg *cfg) {
    static const char fn[] = "fx_trainer_new";
    FX_CHECK_PTR(ctx, fn, out);
    *out = NULL;
    FX_CHECK_PTR(ctx, fn, m);
    FX_CHECK_PTR(ctx, fn, train);
    FX_CHECK_PTR(ctx, fn, cfg);
    FX_CHECK_PTR(ctx, fn, train->images);
    FX_CHECK_PTR(ctx, fn, train->labels);
    fx_node_info in;
    fx_status s = fx_model_node_info(ctx, m, 0, &in);
    if (s) return s;
    if (in.c != train->c || in.h != train->h || in.w != train->w)
        return fx_fail(ctx, FX_ESHAPE, "%s: the model takes %dx%dx%d inputs, the dataset has %dx%dx%d", fn, in.c, in.h,
                       in.w, train->c, train->h, train->w);
    if (cfg->batch < 2 || cfg->batch > fx_model_max_batch(m))
        return fx_fail(ctx, FX_EINVAL, "%s: batch %d must be in 2..%d (the model's max batch)", fn, cfg->batch,
                       fx_model_max_batch(m));
    if (train->n < cfg->batch)
        return fx_fail(ctx, FX_ESHAPE, "%s: %d training samples are fewer than one batch of %d", fn, train->n, cfg->batch);
    if (!(cfg->sched.epochs > 0) || !isfinite(cfg->sched.epochs))
        return fx_fail(ctx, FX_EINVAL, "%s: the schedule must run a positive number of epochs (got %g)", fn, (double)cfg->sched.epochs);
    if (!(cfg->sched.base_lr >= 0) || !(cfg->sched.s_tanh > 0) || !(cfg->sched.s_tanh0 > 0))
        return fx_fail(ctx, FX_EINVAL, "%s: lr must be >= 0 and S_tanh > 0 (lr %g, S %g, S0 %g)", fn,
                       (double)cfg->sched.base_lr, (double)cfg->sched.s_tanh, (double)cfg->sched.s_tanh0);
    int classes = model_classes(ctx, m);
    if (teacher) {
        fx_node_info tin;
        fx_model_node_info(ctx, teacher, 0, &tin);
        if (tin.c != in.c || tin.h != in.h || tin.w != in.w || model_classes(ctx, teacher) != classes)
            return fx_fail(ctx, FX_ESHAPE, "%s: the teacher's input or class count differs from the student's", fn);
        if (fx_model_max_batch(teacher) < cfg->batch)
            return fx_fail(ctx, FX_EINVAL, "%s: the teacher was built for batches of %d < %d", fn, fx_model_max_batch(teacher), cfg->batch);
    }
    fx_trainer *tr = fx_alloc(ctx, sizeof *tr, "the trainer");
    if (!tr) return FX_ENOMEM;
    tr->m = m; tr->teacher = teacher; tr->ds = train; tr->cfg = *cfg;
    tr->classes = classes;
    tr->sample = (size_t)in.c * in.h * in.w;
    tr->steps_per_epoch = train->n / cfg->batch;
    tr->perm_epoch = -1;
    tr->x = fx_alloc(ctx, sizeof(float) * tr->sample * (size_t)cfg->batch, "the trainer's input batch");
    tr->labels = fx_alloc(ctx, sizeof(int32_t) * (size_t)cfg->batch, "the trainer's labels");
    tr->perm = fx_alloc(ctx, sizeof(int32_t) * (size_t)train->n, "the epoch permutation");
    tr->tlogits = teacher ? fx_alloc(ctx, sizeof(float) * (size_t)classes * cfg->batch, "the teacher logits") : NULL;
    if (!tr->x || !tr->labels || !tr->perm || (teacher && !tr->tlogits)) { fx_trainer_free(ctx, tr); return FX_ENOMEM; }
    *out = tr;
    return FX_OK;
}

void fx_trainer_free(fx_ctx *ctx, fx_trainer *tr) {
    if (!tr) return;
    fx_free(ctx, tr->x);
    fx_free(ctx, tr->labels);
    fx_free(ctx, tr->perm);
    fx_free(ctx, tr->tlogits);
    fx_free(ctx, tr);
}

fx_status fx_trainer_seek(fx_ctx *ctx, fx_trainer *tr, int epoch, int step) {
    FX_CHECK_PTR(ctx, "fx_trainer_seek", tr);
    if (epoch < 0 || step < 0 || step > tr->steps_per_epoch)
        return fx_fail(ctx, FX_EINVAL, "fx_trainer_seek: position epoch %d step %d is outside 0..%d steps", epoch, step, tr->steps_per_epoch);
    tr->epoch = epoch + (step == tr->steps_per_epoch);
    tr->step = step == tr->steps_per_epoch ? 0 : step;
    return FX_OK;
}

static int argmax(const float *z, int k) {
    int b = 0;
    for (int j = 1; j < k; j++) if (z[j] > z[b]) b = j;
    return b;
}

fx_status fx_trainer_run(fx_ctx *ctx, fx_trainer *tr, int max_steps, fx_train_stats *st) {
    static const char fn[] = "fx_trainer_run";
    FX_CHECK_PTR(ctx, fn, tr);
    FX_CHECK_PTR(ctx, fn, st);
    memset(st, 0, sizeof *st);
    const fx_train_cfg *c = &tr->cfg;
    int bs = c->batch, spe = tr->steps_per_epoch;
    fx_status s = FX_OK;
    for (int k = 0; k < max_steps; k++) {
        int64_t g = (int64_t)tr->epoch * spe + tr->step;
        double e = (double)g / spe;
        if (e >= c->sched.epochs) { st->run_done = 1; break; }
        if (tr->perm_epoch != tr->epoch) {
            fx_permutation(tr->perm, tr->ds->n, c->seed * 1000003ull + (uint64_t)tr->epoch);
            tr->perm_epoch = tr->epoch;
        }
        fx_rng aug;
        fx_rng_seed(&aug, c->seed ^ (0xA5A5A5A5ull + (uint64_t)g * 0x9E3779B97F4A7C15ull));
        float lr = fx_schedule_lr(&c->sched, e), S = fx_schedule_stanh(&c->sched, e), loss = 0;
        const float *z;
        if ((s = fx_dataset_batch(ctx, tr->ds, tr->perm + (size_t)tr->step * bs, bs, &aug, tr->x, tr->labels))) return s;
        if ((s = fx_model_set_flexor(ctx, tr->m, c->mode, S))) return s;
        if (tr->teacher) {
            const float *tz;
            if ((s = fx_model_forward(ctx, tr->teacher, tr->x, bs, 0, &tz))) return s;
            memcpy(tr->tlogits, tz, sizeof(float) * (size_t)tr->classes * bs);
        }
        if ((s = fx_model_forward(ctx, tr->m, tr->x, bs, 1, &z))) return s;
        for (int b = 0; b < bs; b++) st->correct += argmax(z + (size_t)b * tr->classes, tr->classes) == tr->labels[b];
        if ((s = fx_model_backward(ctx, tr->m, tr->labels, tr->tlogits, c->T, c->kd, &loss))) return s;
        if ((s = fx_model_step(ctx, tr->m, &c->opt, lr))) return s;
        st->loss_sum += (double)loss * bs;
        st->seen += bs;
        st->lr = lr;
        st->s_tanh = S;
        if (++tr->step == spe) {
            tr->step = 0;
            tr->epoch++;
            st->epoch_done = 1;
            break;
        }
    }
    st->epoch = tr->epoch;
    st->step = tr->step;
    st->steps_per_epoch = spe;
    if ((double)tr->epoch * spe + tr->step >= (double)c->sched.epochs * spe) st->run_done = 1;
    return FX_OK;
}
