/* blas.h - matrix multiply through OpenBLAS, loaded at run time so ember picks its fast kernel before
   the library's constructor runs, and the single thread setting shared by every pool. */
#ifndef EMBER_BLAS_H
#define EMBER_BLAS_H

/* row-major C = alpha * op(A) op(B) + beta * C; op transposes when trans != 0 */
void em_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* loads OpenBLAS if not done (idempotent); 0 on success, -1 when only the built-in fallback runs */
int em_blas_init(void);
/* "OpenBLAS 0.3.21 SkylakeX (chosen by ember)" or "built-in (libopenblas.so.0 not found)" */
const char *em_blas_info(void);
const char *em_blas_kernel(void);

/* inside one of ember's parallel regions each worker's GEMMs must run on that worker alone: OpenBLAS
   would otherwise thread a per-image GEMM (it does above 262,144 multiply-adds) over cores that are
   already busy. em_parallel_for brackets its regions with these. */
void em_blas_enter_region(void);
void em_blas_leave_region(void);

/* one thread count for OpenBLAS and ember's own kernels. Default: EMBER_NUM_THREADS or the cores. */
void em_set_num_threads(int n);
int em_get_num_threads(void);
#endif
