/* blas.c - OpenBLAS loaded with dlopen after choosing its kernel. Debian's OpenBLAS 0.3.21 does not know
   recent Xeons and falls back to generic "Prescott" kernels (32 instead of 154 GFLOP/s per core here);
   it reads OPENBLAS_CORETYPE only in its load-time constructor, so linking it normally would be too late
   to fix. A user's own OPENBLAS_CORETYPE always wins. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include "blas.h"
#include "parallel.h"
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
static sgemm_fn cblas_sgemm_p;
static char *(*corename_p)(void);
static char *(*config_p)(void);
static void (*set_threads_p)(int);
static int loaded = 0;   /* 0 not tried, 1 OpenBLAS, -1 fallback */
static int nthreads = 0;
static char info[256], kernel[64];

/* ---- a limited address space (ulimit -v, prlimit --as) ----
   OpenBLAS takes a 128 MiB buffer for each thread that runs its kernels (here: each of ember's workers
   that runs a block of a product), and when that mmap fails it retries forever (blas_memory_alloc in
   its memory.c): `ember --threads 32` under `ulimit -v` spun there, deaf to SIGTERM, whose hook waits
   for the next Lua instruction. So under a finite RLIMIT_AS a thread's first OpenBLAS call, which
   allocates that thread's buffer, is made only while the buffer fits in half the address space left; a
   thread refused uses the built-in GEMM from then on, and ember uses the built-in GEMM alone when not
   even one buffer fits. (Products on a refused thread then round differently: under such a limit the
   results can differ between thread counts.) */
#define BLAS_THREAD_BYTES ((int64_t)200 << 20)   /* the 128 MiB buffer, a 64 MiB malloc arena, a stack */
static int64_t as_limit = -1;                     /* bytes; -1 unlimited */
static pthread_mutex_t first_call = PTHREAD_MUTEX_INITIALIZER;
static __thread int thread_gemm;                  /* 0 undecided, 1 OpenBLAS, -1 built-in */

/* address space left, in bytes (INT64_MAX when unlimited) */
static int64_t as_left(void) {
  if (as_limit < 0) return INT64_MAX;
  long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld", &pages) != 1) pages = 0;
    fclose(f);
  }
  return as_limit - (int64_t)pages * sysconf(_SC_PAGESIZE);
}

/* the OpenBLAS kernel name for this CPU's vector extensions, or NULL to let OpenBLAS decide */
static const char *pick_coretype(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

int em_parse_threads(const char *text) {
  if (!text || *text < '0' || *text > '9') return -1;   /* no sign, no space: strtol would take them */
  errno = 0;
  char *end;
  long t = strtol(text, &end, 10);
  return errno || *end || t < 1 || t > EM_MAX_THREADS ? -1 : (int)t;
}

int em_threads_env(void) {
  const char *e = getenv("EMBER_NUM_THREADS");
  if (!e) return 0;
  return em_parse_threads(e) > 0 ? 1 : -1;
}

static int default_threads(void) {
  if (em_threads_env() > 0) return em_parse_threads(getenv("EMBER_NUM_THREADS"));
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > EM_MAX_THREADS ? EM_MAX_THREADS : (int)n;
}

int em_blas_init(void) {
  if (loaded) return loaded > 0 ? 0 : -1;
#if defined(__x86_64__) || defined(__i386__)
  /* flush denormals to zero: they slowed later training epochs by ~15% here */
  _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) as_limit = (int64_t)rl.rlim_cur;
  if (as_left() / 2 < BLAS_THREAD_BYTES) {
    loaded = -1;
    snprintf(kernel, sizeof kernel, "built-in");
    snprintf(info, sizeof info, "built-in gemm (the address-space limit of %lld MiB leaves no room for OpenBLAS's "
             "128 MiB buffer)", (long long)(as_limit >> 20));
    return -1;
  }
  const char *user = getenv("OPENBLAS_CORETYPE"), *pick = NULL;
  if (!user || !*user) {
    pick = pick_coretype();
    if (pick) setenv("OPENBLAS_CORETYPE", pick, 1);
  }
  /* OpenBLAS sizes its pool from this at load: one thread, so it starts none (blas.h says why); the
     user's value is put back for child processes */
  const char *nt = getenv("OPENBLAS_NUM_THREADS");
  char *user_nt = nt ? strdup(nt) : NULL;
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
  if (pick) unsetenv("OPENBLAS_CORETYPE");   /* children (sweeps) decide for themselves */
  if (user_nt) setenv("OPENBLAS_NUM_THREADS", user_nt, 1);
  else unsetenv("OPENBLAS_NUM_THREADS");
  free(user_nt);
  if (h) {
    cblas_sgemm_p = (sgemm_fn)(uintptr_t)dlsym(h, "cblas_sgemm");
    corename_p = (char *(*)(void))(uintptr_t)dlsym(h, "openblas_get_corename");
    config_p = (char *(*)(void))(uintptr_t)dlsym(h, "openblas_get_config");
    set_threads_p = (void (*)(int))(uintptr_t)dlsym(h, "openblas_set_num_threads");
  }
  if (!cblas_sgemm_p) {
    loaded = -1;
    snprintf(kernel, sizeof kernel, "built-in");
    snprintf(info, sizeof info, "built-in gemm (libopenblas.so.0 not found: apt-get install libopenblas0)");
    return -1;
  }
  loaded = 1;
  if (set_threads_p) set_threads_p(1);
  snprintf(kernel, sizeof kernel, "%s", corename_p ? corename_p() : "unknown");
  const char *cfg = config_p ? config_p() : "OpenBLAS";
  /* under an address-space limit that holds fewer buffers than threads, some threads will run the
     built-in GEMM instead (see as_left) */
  const int capped = as_limit >= 0 && as_left() / 2 / BLAS_THREAD_BYTES < em_get_num_threads();
  snprintf(info, sizeof info, "%s, kernel %s (%s)%s", cfg, kernel,
           user && *user ? "OPENBLAS_CORETYPE from the environment" : pick ? "chosen by ember" : "chosen by OpenBLAS",
           capped ? ", its threads capped by the address-space limit" : "");
  return 0;
}

const char *em_blas_info(void) { em_blas_init(); return info; }
const char *em_blas_kernel(void) { em_blas_init(); return kernel; }

void em_set_num_threads(int n) {
  nthreads = n < 1 ? 1 : n > EM_MAX_THREADS ? EM_MAX_THREADS : n;
}

int em_get_num_threads(void) {
  if (!nthreads) nthreads = default_threads();
  return nthreads;
}

/* tiny products, and the portable fallback when OpenBLAS is absent: i-k-j loops the compiler vectorises */
static void gemm_fallback(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc) {
  for (int i = 0; i < m; i++) {
    float *ci = c + (size_t)i * ldc;
    if (beta == 0.0f) for (int j = 0; j < n; j++) ci[j] = 0.0f;
    else if (beta != 1.0f) for (int j = 0; j < n; j++) ci[j] *= beta;
    for (int p = 0; p < k; p++) {
      float av = alpha * (ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
      if (!tb) {
        const float *bp = b + (size_t)p * ldb;
        for (int j = 0; j < n; j++) ci[j] += av * bp[j];
      } else {
        for (int j = 0; j < n; j++) ci[j] += av * b[(size_t)j * ldb + p];
      }
    }
  }
}

/* a . b over n unit-stride floats, in 8 partial sums so the loop vectorises */
static float dot_unit(const float *a, const float *b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s = 0.0f;
  int p = 0;
  for (; p + 8 <= n; p += 8)
    for (int q = 0; q < 8; q++) acc[q] += a[p + q] * b[p + q];
  for (; p < n; p++) s += a[p] * b[p];
  return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* tiny products, by the loop order that walks memory in unit steps: dot products when both operands
   run along k contiguously (A row-major, B transposed: Linear's forward), row updates otherwise */
static void gemm_small(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
  if (!ta && tb) {
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        float *cij = c + (int64_t)i * ldc + j;
        float v = alpha * dot_unit(a + (int64_t)i * lda, b + (int64_t)j * ldb, k);
        *cij = beta == 0.0f ? v : v + beta * *cij;
      }
    return;
  }
  gemm_fallback(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* one product on the calling thread */
static void sgemm_serial(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc) {
  /* OpenBLAS packs its operands and dispatches first: ~1 us that dominates a product of a few thousand
     multiply-adds (a Linear(10, 1) step on 442 rows spent a third of its time there) */
  if (loaded > 0 && (double)m * n * k > 16384.0 && thread_gemm == 0 && as_limit >= 0) {
    /* this thread's first OpenBLAS call allocates its buffer: only while it fits (see as_left) */
    pthread_mutex_lock(&first_call);
    thread_gemm = as_left() > BLAS_THREAD_BYTES + BLAS_THREAD_BYTES / 2 ? 1 : -1;
    if (thread_gemm > 0)
      cblas_sgemm_p(101, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    pthread_mutex_unlock(&first_call);
    if (thread_gemm > 0) return;
  }
  if (loaded > 0 && (double)m * n * k > 16384.0 && thread_gemm >= 0)
    cblas_sgemm_p(101 /* CblasRowMajor */, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda,
                  b, ldb, beta, c, ldc);
  else if (loaded > 0)
    gemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    gemm_fallback(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* A product is cut into blocks of whole rows (or columns) of C, fixed by its shape: every element of C
   is computed inside one block, by one serial OpenBLAS call whose shape depends only on the product's,
   so the bits do not depend on the thread count. (The blocks must not follow the thread count: with
   0.3.21's Haswell and SkylakeX kernels a row's result changes with the rows called beside it, even
   at boundaries aligned to 64.) Each block re-packs the operand it shares with the others (B for rows,
   A for columns), so the longer side of C is cut, into blocks of at least MIN_SIDE rows: 64-row blocks
   cost a 1024 x 256 x 784 product 25-40% at 1 thread, 256-row blocks 4-7%. The one exception: a side
   of MIN_SIDE to 2 * MIN_SIDE - 1 is cut in two, since otherwise a small layer runs on one thread (the
   MLP's 128 x 256 x 784 at batch 128: two 128-column blocks cost it 0-6% at 1 thread and ran 1.7x
   faster on 2). Above two, the count is even, so 2, 4, 8 and 16 threads share the blocks equally: on 2
   threads 3 blocks took 1.2-1.3x as long as 2 or 4 (256 x 784 x 1024), and 4 blocks of 208 columns
   1.13-1.2x as long as 2 of 392 (256 x 784 x 128), so 784 columns make 2 blocks. Blocks are at least
   BLOCK_MACS multiply-adds (about 25 us) and at most MAX_BLOCKS. */
#define BLOCK_MACS (1 << 22)
#define BLOCK_ALIGN 16
#define MIN_SIDE 256
#define MAX_BLOCKS 16

/* rows (or columns) of C per block; the whole side when the product is one block */
static int block_step(int m, int n, int k) {
  const int side = m >= n ? m : n;
  int64_t blocks = (int64_t)((double)m * n * k / BLOCK_MACS);
  if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
  const int most = side / MIN_SIDE == 1 ? 2 : side / MIN_SIDE;
  if (blocks > most) blocks = most;
  if (blocks > 2 && blocks % 2) blocks--;
  if (blocks <= 1) return side;
  const int per = (int)((side + blocks - 1) / blocks);
  return (per + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
}

int em_sgemm_blocks(int m, int n, int k) {
  const int side = m >= n ? m : n, step = block_step(m, n, k);
  return side > 0 ? (side + step - 1) / step : 1;
}

typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc, rows, step;
  float alpha, beta;
  const float *a, *b;
  float *c;
} gemm_job;

static void gemm_block(void *p, int64_t blk, int worker) {
  const gemm_job *j = p;
  (void)worker;
  const int side = j->rows ? j->m : j->n, lo = (int)blk * j->step;
  const int len = side - lo < j->step ? side - lo : j->step;
  if (j->rows)   /* rows lo.. of C: rows of A (columns when A is transposed) */
    sgemm_serial(j->ta, j->tb, len, j->n, j->k, j->alpha, j->ta ? j->a + lo : j->a + (size_t)lo * j->lda, j->lda,
                 j->b, j->ldb, j->beta, j->c + (size_t)lo * j->ldc, j->ldc);
  else           /* columns lo.. of C: columns of B (rows when B is transposed) */
    sgemm_serial(j->ta, j->tb, j->m, len, j->k, j->alpha, j->a, j->lda,
                 j->tb ? j->b + (size_t)lo * j->ldb : j->b + lo, j->ldb, j->beta, j->c + lo, j->ldc);
}

void em_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {   /* BLAS leaves C untouched for k = 0 only when beta = 1 */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : c[(size_t)i * ldc + j] * beta;
    return;
  }
  if (!loaded) em_blas_init();
  const int rows = m >= n, side = rows ? m : n, step = block_step(m, n, k);
  if (step >= side) {
    sgemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gemm_job j = {trans_a, trans_b, m, n, k, lda, ldb, ldc, rows, step, alpha, beta, a, b, c};
  em_parallel_chunks((side + j.step - 1) / j.step, gemm_block, &j);
}
