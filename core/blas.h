/* blas.h - matrix multiply through OpenBLAS, loaded at run time so ember picks its fast kernel before
   the library's constructor runs, and the single thread setting of ember's pool (parallel.h).

   OpenBLAS always runs on one thread: its own threading splits a product by the thread count, and the
   split changes the last bits of the result (measured: 0.3.21's SkylakeX and Haswell kernels both).
   em_sgemm instead cuts a large product into blocks of rows or columns fixed by its shape alone and
   runs the blocks on ember's pool, so a product gives the same bits at every thread count. */
#ifndef EMBER_BLAS_H
#define EMBER_BLAS_H

/* row-major C = alpha * op(A) op(B) + beta * C; op transposes when trans != 0 */
void em_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* how many blocks em_sgemm cuts an m x n x k product into (1: one serial call); a function of the shape
   alone, never of the thread count */
int em_sgemm_blocks(int m, int n, int k);

/* loads OpenBLAS if not done (idempotent); 0 on success, -1 when only the built-in fallback runs */
int em_blas_init(void);
/* "OpenBLAS 0.3.21 SkylakeX (chosen by ember)" or "built-in (libopenblas.so.0 not found)" */
const char *em_blas_info(void);
const char *em_blas_kernel(void);

/* the thread count of ember's pool, 1..EM_MAX_THREADS. Default: EMBER_NUM_THREADS or the cores. */
#define EM_MAX_THREADS 1024
void em_set_num_threads(int n);
int em_get_num_threads(void);
/* a thread count as text (--threads, EMBER_NUM_THREADS): an integer 1..EM_MAX_THREADS with nothing
   around it, or -1 ("", "0", "-2", "1e9", "abc", "8x" and 100000 are all -1) */
int em_parse_threads(const char *text);
/* EMBER_NUM_THREADS: 0 when unset, 1 when it is a thread count, -1 when set to anything else. The
   executable and luaopen_ember refuse the -1 case; the core alone (C tests) then uses the cores. */
int em_threads_env(void);
#endif
