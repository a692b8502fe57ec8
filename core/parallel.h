/* parallel.h - ember's own worker threads for its kernels (conv, pooling, large elementwise ops).
   Sized by the one thread setting of blas.h (em_set_num_threads / EMBER_NUM_THREADS), so ember's pool
   and OpenBLAS's never together ask for more threads than that. */
#ifndef EMBER_PARALLEL_H
#define EMBER_PARALLEL_H
#include <stdint.h>

/* runs fn(ctx, begin, end, worker) over [0, n) split into contiguous chunks, one per thread, and
   returns when all are done. worker is 0..em_parallel_workers()-1 (for per-thread scratch buffers).
   Runs serially when n < 2 * grain, with one thread, or when called from inside a parallel region. */
typedef void (*em_range_fn)(void *ctx, int64_t begin, int64_t end, int worker);
void em_parallel_for(int64_t n, int64_t grain, em_range_fn fn, void *ctx);

/* how many chunks em_parallel_for uses at most (the thread setting) */
int em_parallel_workers(void);
#endif
