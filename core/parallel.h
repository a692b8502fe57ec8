/* parallel.h - ember's own worker threads for its kernels (matrix products, conv, pooling, large
   elementwise ops, reductions). Sized by the one thread setting of blas.h (em_set_num_threads /
   EMBER_NUM_THREADS); OpenBLAS itself always runs on the calling thread (blas.c), so there is one pool.

   Results never depend on the thread count. em_parallel_for splits by threads, so it is only for work
   whose every output is computed the same way wherever the split falls (elementwise ops, independent
   planes). Work that sums across a split (a reduction, a weight gradient summed over images) uses
   em_parallel_chunks with chunks fixed by the problem's shape, and adds the chunks' results in chunk
   order. */
#ifndef EMBER_PARALLEL_H
#define EMBER_PARALLEL_H
#include <stdint.h>

/* runs fn(ctx, begin, end, worker) over [0, n) split into contiguous chunks, one per thread, and
   returns when all are done. worker is 0..em_parallel_workers()-1 (for per-thread scratch buffers).
   Runs serially when n < 2 * grain, with one thread, or when called from inside a parallel region. */
typedef void (*em_range_fn)(void *ctx, int64_t begin, int64_t end, int worker);
void em_parallel_for(int64_t n, int64_t grain, em_range_fn fn, void *ctx);

/* runs fn(ctx, chunk, worker) once for every chunk in [0, nchunks), handing chunks to the workers as
   they free up (so a core slowed by another process does not hold the others back). The caller fixes
   the chunks from the problem alone; which worker runs a chunk, and when, must not change what the
   chunk computes. worker (0..em_parallel_workers()-1) is only for per-worker scratch. Runs the chunks
   in order on the calling thread with one thread or inside a parallel region. */
typedef void (*em_chunk_fn)(void *ctx, int64_t chunk, int worker);
void em_parallel_chunks(int64_t nchunks, em_chunk_fn fn, void *ctx);

/* dst[i] += part[0][i] + part[1][i] + ... + part[chunks - 1][i] for i < n, added in that order (the
   chunks' partial sums, part[c] at part + c * stride), elements split over the workers */
void em_sum_chunks(float *dst, const float *part, int64_t chunks, int64_t stride, int64_t n);

/* how many workers em_parallel_for and em_parallel_chunks use at most (the thread setting) */
int em_parallel_workers(void);
#endif
