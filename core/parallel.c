/* parallel.c - a small fork-join pool on pthreads. A job is a number of chunks that the caller and the
   helpers claim one at a time from a shared counter, so nobody waits for a helper that has not started:
   on a machine shared with other processes a helper can be off its core for milliseconds, and with a
   fixed share per thread the caller waited that long for it (an elementwise op on 2 threads took 10x
   its 1-thread time whenever another process held the second core). The caller waits only for helpers
   that joined the job and are inside a chunk. Helpers spin briefly for the next job (LeNet-sized layers
   come back-to-back within microseconds) and then sleep on a condition variable, so an idle pool costs
   no CPU (two spinning pools on 2 cores slowed training 3-6x, docs/performance.md). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include "parallel.h"
#include "blas.h"   /* em_get_num_threads */

#define SPINS 4000     /* pause-spins before yielding, then as many yields before sleeping */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;
static pthread_t *threads;
static int nthreads;          /* helper threads (the caller is the extra one) */
static unsigned job_gen;      /* bumped for each job; helpers watch it */
static int job_open;          /* helpers may still join the current job */
static int active;            /* helpers inside a job */
static int sleepers;          /* helpers asleep on `wake` */
static int caller_waiting;    /* the caller asleep on `done_cv` */
static int quitting;
static em_chunk_fn job_fn;
static void *job_ctx;
static int64_t job_n, job_next;
static __thread int in_region;
static unsigned start_gen;    /* job_gen when the pool was (re)built: new helpers wait for the next job */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

/* spin with pause first; then yield, so a pool larger than the free cores does not starve the thread
   it is waiting for */
static inline void cpu_relax(int spins) {
  if (spins > SPINS / 2) { sched_yield(); return; }
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

static void claim_chunks(int worker) {
  for (int64_t c; (c = __atomic_fetch_add(&job_next, 1, __ATOMIC_SEQ_CST)) < job_n;) job_fn(job_ctx, c, worker);
}

/* The fast path takes no lock. A helper joins a job by counting itself in `active` and only then
   checking that the job is still open; the caller closes the job before waiting for `active` to reach
   0. A helper that arrives after the close backs out without touching the job. A side that gives up
   spinning announces it (sleepers, caller_waiting) before re-checking under the mutex; the other side
   checks the announcement after its own store, so no wake-up is lost. */
static void *helper(void *arg) {
  int k = (int)(intptr_t)arg;
  unsigned seen = start_gen;
  in_region = 1;
  for (;;) {
    for (int spins = 0; LOAD(job_gen) == seen && !LOAD(quitting) && spins < SPINS; spins++) cpu_relax(spins);
    if (LOAD(job_gen) == seen && !LOAD(quitting)) {
      pthread_mutex_lock(&mu);
      __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
      while (LOAD(job_gen) == seen && !LOAD(quitting)) pthread_cond_wait(&wake, &mu);
      __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
      pthread_mutex_unlock(&mu);
    }
    if (LOAD(quitting)) return NULL;
    seen = LOAD(job_gen);
    __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
    if (LOAD(job_open)) claim_chunks(k);
    if (__atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST) == 0 && LOAD(caller_waiting)) {
      pthread_mutex_lock(&mu);
      pthread_cond_signal(&done_cv);
      pthread_mutex_unlock(&mu);
    }
  }
}

static void stop_pool(void) {
  if (!nthreads) return;
  pthread_mutex_lock(&mu);
  STORE(quitting, 1);
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < nthreads; i++) pthread_join(threads[i], NULL);
  free(threads);
  threads = NULL;
  nthreads = 0;
  STORE(quitting, 0);
}

/* Lua unloads ember.so (dlclose) when its state closes; helpers still spinning in this file's code
   would then jump into unmapped pages (busted exited with SIGSEGV after the specs that start the
   pool). The destructor joins them first; it also runs at the normal exit of the executable. */
__attribute__((destructor)) static void pool_unload(void) { stop_pool(); }

/* (re)starts the pool when the thread setting changed; returns the helper count */
static int ensure_pool(void) {
  int want = em_get_num_threads() - 1;
  if (want == nthreads) return nthreads;
  stop_pool();
  if (want <= 0) return 0;
  threads = malloc((size_t)want * sizeof *threads);
  if (!threads) return 0;
  start_gen = LOAD(job_gen);
  for (int i = 0; i < want; i++) {
    if (pthread_create(&threads[i], NULL, helper, (void *)(intptr_t)(i + 1)) != 0) { want = i; break; }
  }
  nthreads = want;
  return nthreads;
}

int em_parallel_workers(void) { int n = em_get_num_threads(); return n > 0 ? n : 1; }

void em_parallel_chunks(int64_t nchunks, em_chunk_fn fn, void *ctx) {
  if (nchunks <= 0) return;
  if (nchunks == 1 || in_region || ensure_pool() == 0) {
    for (int64_t c = 0; c < nchunks; c++) fn(ctx, c, 0);
    return;
  }
  job_fn = fn;
  job_ctx = ctx;
  job_n = nchunks;
  STORE(job_next, 0);
  STORE(job_open, 1);
  __atomic_add_fetch(&job_gen, 1, __ATOMIC_SEQ_CST);
  if (LOAD(sleepers) > 0) {
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
  }
  in_region = 1;
  claim_chunks(0);
  in_region = 0;
  STORE(job_open, 0);
  for (int spins = 0; LOAD(active) > 0 && spins < SPINS; spins++) cpu_relax(spins);
  if (LOAD(active) > 0) {
    pthread_mutex_lock(&mu);
    STORE(caller_waiting, 1);
    while (LOAD(active) > 0) pthread_cond_wait(&done_cv, &mu);
    STORE(caller_waiting, 0);
    pthread_mutex_unlock(&mu);
  }
}

/* em_parallel_for as chunks: four ranges per worker (at least grain each), so a worker that joins late
   or is held up by another process leaves most of its share to the others (with one range per worker,
   max pooling at batch 512 ran 3:1 between the two threads of a 2-core machine) */
typedef struct { em_range_fn fn; void *ctx; int64_t n, per; } range_job;

static void range_chunk(void *p, int64_t c, int worker) {
  const range_job *r = p;
  int64_t b = c * r->per, e = b + r->per < r->n ? b + r->per : r->n;
  r->fn(r->ctx, b, e, worker);
}

void em_parallel_for(int64_t n, int64_t grain, em_range_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t parts = in_region ? 1 : 4 * (int64_t)em_parallel_workers();
  if (parts > n / grain) parts = n / grain;
  if (parts <= 1) { fn(ctx, 0, n, 0); return; }
  range_job r = {fn, ctx, n, (n + parts - 1) / parts};
  em_parallel_chunks((n + r.per - 1) / r.per, range_chunk, &r);
}

typedef struct { float *dst; const float *part; int64_t chunks, stride; } chunk_sum;

/* a block of elements at a time, chunk after chunk: every element still adds its chunks in order, and
   the inner loop runs along memory and vectorises */
static void sum_range(void *p, int64_t b, int64_t e, int worker) {
  const chunk_sum *s = p;
  enum { BLOCK = 512 };
  float acc[BLOCK];
  (void)worker;
  for (int64_t i0 = b; i0 < e; i0 += BLOCK) {
    const int64_t n = e - i0 < BLOCK ? e - i0 : BLOCK;
    for (int64_t i = 0; i < n; i++) acc[i] = s->part[i0 + i];
    for (int64_t c = 1; c < s->chunks; c++) {
      const float *q = s->part + c * s->stride + i0;
      for (int64_t i = 0; i < n; i++) acc[i] += q[i];
    }
    for (int64_t i = 0; i < n; i++) s->dst[i0 + i] += acc[i];
  }
}

void em_sum_chunks(float *dst, const float *part, int64_t chunks, int64_t stride, int64_t n) {
  chunk_sum s = {dst, part, chunks, stride};
  em_parallel_for(n, 4096, sum_range, &s);
}
