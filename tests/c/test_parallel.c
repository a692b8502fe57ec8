/* test_parallel.c - the fork-join pool covers every index and every chunk exactly once, for any thread
   count, with worker ids in range; a nested region runs serially instead of deadlocking; em_sum_chunks
   adds chunks in order; em_sgemm gives the same bits at every thread count, including products cut
   into blocks, and cuts a product into a count of blocks that its shape fixes. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "parallel.h"
#include "blas.h"

typedef struct { int *hits; long long sums[64]; int nested; } ctx_t;

static void mark(void *p, int64_t b, int64_t e, int w) {
  ctx_t *c = p;
  for (int64_t i = b; i < e; i++) { c->hits[i]++; c->sums[w] += i; }
}

static void nested(void *p, int64_t b, int64_t e, int w) {
  ctx_t *c = p;
  (void)w;
  for (int64_t i = b; i < e; i++) em_parallel_for(10, 1, mark, c);
  __atomic_add_fetch(&c->nested, (int)(e - b), __ATOMIC_RELAXED);
}

typedef struct { int *hits; int bad_worker; } chunk_ctx;

static void mark_chunk(void *p, int64_t chunk, int worker) {
  chunk_ctx *c = p;
  __atomic_add_fetch(&c->hits[chunk], 1, __ATOMIC_RELAXED);
  if (worker < 0 || worker >= em_parallel_workers()) c->bad_worker = 1;
}

/* a product at threads 2..8 against 1 thread, bit for bit */
static int gemm_same_at_every_thread_count(int ta, int tb, int m, int n, int k) {
  float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
  float *c1 = malloc(sizeof(float) * (size_t)m * n), *c = malloc(sizeof(float) * (size_t)m * n);
  for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)((i * 2654435761u) % 1000) / 997.0f - 0.5f;
  for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)((i * 40503u) % 1000) / 991.0f - 0.5f;
  int lda = ta ? m : k, ldb = tb ? k : n, same = 1;
  for (int t = 1; t <= 8; t++) {
    em_set_num_threads(t);
    em_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, t == 1 ? c1 : c, n);
    if (t > 1 && memcmp(c1, c, sizeof(float) * (size_t)m * n)) same = 0;
  }
  free(a); free(b); free(c1); free(c);
  return same;
}

int main(void) {
  /* chunks: each exactly once, from a worker that exists */
  for (int threads = 1; threads <= 4; threads++) {
    em_set_num_threads(threads);
    for (int64_t n = 1; n < 200; n += 23) {
      chunk_ctx c = {calloc((size_t)n, sizeof(int)), 0};
      em_parallel_chunks(n, mark_chunk, &c);
      int ok = 1;
      for (int64_t i = 0; i < n; i++) ok &= c.hits[i] == 1;
      CHECK(ok);
      CHECK(!c.bad_worker);
      free(c.hits);
    }
  }
  /* em_sum_chunks: dst += part[0] + part[1] + ... in that order (1e8 + 1 - 1e8 is 0 in float, not 1) */
  {
    float part[3 * 600], dst[600];
    for (int i = 0; i < 600; i++) { part[i] = 1e8f; part[600 + i] = 1.0f; part[1200 + i] = -1e8f; dst[i] = 2.0f; }
    em_set_num_threads(2);
    em_sum_chunks(dst, part, 3, 600, 600);
    int ok = 1;
    for (int i = 0; i < 600; i++) ok &= dst[i] == 2.0f;
    CHECK(ok);
  }
  /* products small (one serial call), medium and large enough to be cut into blocks of rows or columns */
  static const int shapes[][5] = {{0, 0, 10, 10, 10}, {0, 1, 300, 256, 784}, {0, 1, 1024, 256, 784},
                                  {1, 0, 256, 784, 1024}, {0, 0, 700, 1300, 129}, {1, 1, 1500, 300, 100}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    CHECK(gemm_same_at_every_thread_count(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4]));
  /* a longest side of 256 to 511 is cut in two (the MLP at batch 128: its first layer's forward, and a
     weight gradient, both transposed), an odd side into unequal halves (333 = 176 + 157) */
  static const int halves[][5] = {{0, 1, 128, 256, 784}, {1, 1, 256, 128, 784}, {1, 0, 333, 200, 500}};
  for (size_t i = 0; i < sizeof halves / sizeof halves[0]; i++) {
    CHECK(em_sgemm_blocks(halves[i][2], halves[i][3], halves[i][4]) == 2);
    CHECK(gemm_same_at_every_thread_count(halves[i][0], halves[i][1], halves[i][2], halves[i][3], halves[i][4]));
  }
  /* the block count: one below 256 rows or 4M multiply-adds; above two, even, so 2, 4, 8 or 16 threads
     share the blocks equally (784 columns: 2 blocks, not 3) */
  CHECK(em_sgemm_blocks(255, 200, 4096) == 1);
  CHECK(em_sgemm_blocks(300, 100, 100) == 1);
  CHECK(em_sgemm_blocks(256, 784, 128) == 2);
  CHECK(em_sgemm_blocks(256, 784, 1024) == 2);
  CHECK(em_sgemm_blocks(1024, 256, 784) == 4);
  CHECK(em_sgemm_blocks(1300, 700, 129) == 4);
  CHECK(em_sgemm_blocks(4096, 4096, 4096) == 16);
  int even = 1;
  for (int side = 256; side <= 8192; side += 16) {
    const int blocks = em_sgemm_blocks(side, 64, 4096);
    even &= blocks <= 2 || blocks % 2 == 0;
  }
  CHECK(even);

  for (int threads = 1; threads <= 3; threads++) {   /* 3 oversubscribes a 2-core machine on purpose */
    em_set_num_threads(threads);
    for (int64_t n = 0; n < 300; n += 37) {
      ctx_t c = {0};
      c.hits = calloc((size_t)n + 1, sizeof(int));
      for (int rep = 0; rep < 20; rep++) em_parallel_for(n, 1, mark, &c);
      int ok = 1;
      for (int64_t i = 0; i < n; i++) ok &= c.hits[i] == 20;
      long long total = 0;
      for (int w = 0; w < 64; w++) total += c.sums[w];
      CHECK(ok);
      CHECK(total == 20LL * n * (n - 1) / 2);
      free(c.hits);
    }
  }
  em_set_num_threads(2);
  ctx_t c = {0};
  c.hits = calloc(10, sizeof(int));
  em_parallel_for(8, 1, nested, &c);
  CHECK(c.nested == 8);
  CHECK(c.hits[0] == 8 && c.hits[9] == 8);
  free(c.hits);
  return CHECK_DONE();
}
