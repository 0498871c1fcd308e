/*
 * threads.c - the thread pool of threads.h: workers wait on a condition variable for a generation
 * counter to change, run their task, and the last one to finish signals the caller.
 */
#if !defined(__wasm__) && !defined(FX_NO_THREADS)
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#endif
#include "threads.h"
#include <stdlib.h>

#if defined(__wasm__) || defined(FX_NO_THREADS)

fx_pool *fx_pool_new(int n) { (void)n; return NULL; }
void fx_pool_free(fx_pool *p) { (void)p; }
int fx_threads_available(void) { return 0; }
void fx_pool_run(fx_pool *p, int n, fx_task_fn fn, void *arg) {
    (void)p;
    for (int i = 0; i < n; i++) fn(arg, i);
}

#else

struct fx_pool {
    int n;                 /* threads including the caller */
    pthread_t tid[FX_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;     /* bumped for every batch of tasks */
    int pending, n_tasks, quit;
    fx_task_fn fn;
    void *arg;
};

typedef struct { fx_pool *p; int index; } worker_arg;

static void *worker(void *v) {
    worker_arg *wa = v;
    fx_pool *p = wa->p;
    int me = wa->index;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        int run = me < p->n_tasks;
        fx_task_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        if (run) fn(arg, me);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    free(wa);
    return NULL;
}

int fx_threads_available(void) { return 1; }

fx_pool *fx_pool_new(int n) {
    if (n <= 1) return NULL;
    if (n > FX_MAX_THREADS) n = FX_MAX_THREADS;
    fx_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        wa->p = p;
        wa->index = i;
        if (pthread_create(&p->tid[i], NULL, worker, wa) != 0) { free(wa); p->n = i; break; }
    }
    if (p->n <= 1) { fx_pool_free(p); return NULL; }
    return p;
}

void fx_pool_free(fx_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p);
}

void fx_pool_run(fx_pool *p, int n, fx_task_fn fn, void *arg) {
    if (!p || n <= 1) {
        for (int i = 0; i < n; i++) fn(arg, i);
        return;
    }
    if (n > p->n) n = p->n; /* callers split work into at most p->n tasks */
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
#endif
