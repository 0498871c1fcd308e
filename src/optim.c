/*
 * optim.c - SGD with momentum / Nesterov and Adam (PyTorch semantics, L2 weight decay), and the LR and
 * S_tanh schedules (docs/CORE.md "Optimisers", "Schedules").
 */
#include "flexor.h"
#include <math.h>

void fx_sgd_step(int64_t n, float *p, const float *grad, float *buf, float lr, float mom, float wd, int nesterov) {
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + wd * p[i];
        if (mom != 0.0f) {
            buf[i] = mom * buf[i] + g;
            g = nesterov ? g + mom * buf[i] : buf[i];
        }
        p[i] -= lr * g;
    }
}

void fx_adam_step(int64_t n, float *p, const float *grad, float *m, float *v, float lr, float b1, float b2,
                  float eps, float wd, int64_t t) {
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    float sc2 = sqrtf(c2);
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] -= lr * (m[i] / c1) / (sqrtf(v[i]) / sc2 + eps);
    }
}

static int passed(const fx_schedule *s, double e) {
    int k = 0;
    for (int i = 0; i < s->n_milestones; i++) k += e >= s->milestones[i];
    return k;
}

float fx_schedule_lr(const fx_schedule *s, double e) {
    if (s->warmup > 0.0f && e < s->warmup) return (float)(s->base_lr * (e / s->warmup));
    switch (s->kind) {
    case FX_SCHED_STEP: return (float)(s->base_lr * pow(s->gamma, passed(s, e)));
    case FX_SCHED_COSINE: {
        double span = s->epochs - s->warmup;
        double u = span > 0 ? (e - s->warmup) / span : 1.0;
        if (u > 1.0) u = 1.0;
        return (float)(s->base_lr * 0.5 * (1.0 + cos(3.141592653589793 * u)));
    }
    default: return s->base_lr;
    }
}

float fx_schedule_stanh(const fx_schedule *s, double e) {
    double w = s->warmup > 0.0f ? (e < s->warmup ? e / s->warmup : 1.0) : 1.0;
    double S = s->s_tanh0 + (s->s_tanh - s->s_tanh0) * w;
    return (float)(S * pow(2.0, passed(s, e)));
}
