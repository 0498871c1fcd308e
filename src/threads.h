/*
 * threads.h - a minimal fixed-size thread pool for the native build: fx_pool_run(pool, n, fn, arg) calls
 * fn(arg, i) for i in 0..n-1, task i on thread i (task 0 on the caller), and returns when all are done.
 * Built without pthreads (WebAssembly, or FX_NO_THREADS) the pool runs every task on the caller.
 */
#ifndef FX_THREADS_H
#define FX_THREADS_H

#define FX_MAX_THREADS 16

typedef struct fx_pool fx_pool;
typedef void (*fx_task_fn)(void *arg, int i);

/* NULL when n <= 1 or threads are unavailable: fx_pool_run then runs tasks serially. */
fx_pool *fx_pool_new(int n);
void fx_pool_free(fx_pool *p);
void fx_pool_run(fx_pool *p, int n, fx_task_fn fn, void *arg);
/* Whether this build can run threads at all. */
int fx_threads_available(void);
#endif
