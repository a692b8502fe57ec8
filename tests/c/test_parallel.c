/* test_parallel.c - the fork-join pool covers every index exactly once, for any thread count, and a
   nested region runs serially instead of deadlocking. */
#include <stdlib.h>
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

int main(void) {
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
