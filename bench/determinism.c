/* determinism.c - what thread-count-invariant results cost. The matrix products of one training step
   of the scaling workloads, timed through em_sgemm (cut into blocks fixed by the shape, each one
   serial OpenBLAS call, the blocks on ember's pool) and as one OpenBLAS call on OpenBLAS's own threads
   (what ember did before, whose bits changed with the thread count); and the ordered sums of the
   convolutions' per-group weight-gradient partials, which a per-thread split would not need.
   Prints result lines for bench/run.lua: result <TAB> workload/what/threads <TAB> ember_us,openblas_us.
   Build (bench/run.lua does): cc -O2 -std=gnu99 -Icore bench/determinism.c build/libembercore.a
   -ldl -lm -lpthread -lz */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "blas.h"
#include "parallel.h"

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* the median of REPS timings of stmt, in microseconds */
#define REPS 31
#define TIME(stmt) ({ double t_[REPS]; for (int r_ = 0; r_ < REPS; r_++) { double t0_ = now(); stmt; \
                      t_[r_] = now() - t0_; } qsort(t_, REPS, sizeof(double), cmp); t_[REPS / 2] * 1e6; })

/* a product (m, n, k, transposes) of a workload's step, or the ordered sum of `chunks` partials of n
   floats (m = 0) */
typedef struct { const char *workload, *what; int m, n, k, ta, tb; } op;

int main(void) {
  static const op ops[] = {
    {"mlp1024", "fc1_forward", 1024, 256, 784, 0, 1}, {"mlp1024", "fc1_weight_grad", 256, 784, 1024, 1, 0},
    {"mlp1024", "fc2_forward", 1024, 10, 256, 0, 1}, {"mlp1024", "fc2_input_grad", 1024, 256, 10, 0, 0},
    {"mlp1024", "fc2_weight_grad", 10, 256, 1024, 1, 0},
    {"mlp128", "fc1_forward", 128, 256, 784, 0, 1}, {"mlp128", "fc1_weight_grad", 256, 784, 128, 1, 0},
    {"mlp128", "fc2_forward", 128, 10, 256, 0, 1}, {"mlp128", "fc2_input_grad", 128, 256, 10, 0, 0},
    {"mlp128", "fc2_weight_grad", 10, 256, 128, 1, 0},
    {"lenet512", "fc_forward", 512, 10, 320, 0, 1}, {"lenet512", "fc_input_grad", 512, 320, 10, 0, 0},
    {"lenet512", "fc_weight_grad", 10, 320, 512, 1, 0},
    /* conv1 (10 x 1 x 5 x 5 + 10) and conv2 (20 x 10 x 5 x 5 + 20) over 512 / 16 image groups */
    {"lenet512", "conv1_partials", 0, 260, 32, 0, 0}, {"lenet512", "conv2_partials", 0, 5020, 32, 0, 0},
    {"lenet64", "fc_forward", 64, 10, 320, 0, 1}, {"lenet64", "fc_input_grad", 64, 320, 10, 0, 0},
    {"lenet64", "fc_weight_grad", 10, 320, 64, 1, 0},
    {"lenet64", "conv1_partials", 0, 260, 4, 0, 0}, {"lenet64", "conv2_partials", 0, 5020, 4, 0, 0},
  };
  if (em_blas_init()) { printf("result\terror\tOpenBLAS is not loaded\n"); return 0; }
  void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_NOLOAD);
  sgemm_fn sgemm = h ? (sgemm_fn)(uintptr_t)dlsym(h, "cblas_sgemm") : NULL;
  void (*set_threads)(int) = h ? (void (*)(int))(uintptr_t)dlsym(h, "openblas_set_num_threads") : NULL;
  if (!sgemm || !set_threads) { printf("result\terror\tOpenBLAS symbols not found\n"); return 0; }
  float *a = malloc(sizeof(float) * 1024 * 1024), *b = malloc(sizeof(float) * 1024 * 1024);
  float *c = malloc(sizeof(float) * 1024 * 1024);
  for (int i = 0; i < 1024 * 1024; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.2f; }
  enum { NOPS = sizeof ops / sizeof ops[0] };
  for (int threads = 1; threads <= 2; threads++) {
    double e[NOPS], o[NOPS] = {0};
    /* every product through ember's pool first, then every one on OpenBLAS's threads: OpenBLAS's
       helpers spin for a while after a threaded call, and timed between two of them ember's blocks
       would share the 2 cores with a spinning OpenBLAS thread */
    em_set_num_threads(threads);
    set_threads(1);
    for (int i = 0; i < NOPS; i++) {
      const op *p = &ops[i];
      const int lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
      e[i] = p->m == 0 ? TIME(em_sum_chunks(c, a, p->k, p->n, p->n))
                       : TIME(em_sgemm(p->ta, p->tb, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f, c, p->n));
    }
    em_set_num_threads(1);
    set_threads(threads);
    for (int i = 0; i < NOPS; i++) {
      const op *p = &ops[i];
      const int lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
      if (p->m)
        o[i] = TIME(sgemm(101, p->ta ? 112 : 111, p->tb ? 112 : 111, p->m, p->n, p->k, 1.0f, a, lda, b, ldb, 0.0f,
                          c, p->n));
    }
    set_threads(1);
    for (int i = 0; i < NOPS; i++)
      printf("result\t%s/%s/%d\t%.2f,%.2f\n", ops[i].workload, ops[i].what, threads, e[i], o[i]);
  }
  free(a); free(b); free(c);
  return 0;
}
