/* test_autograd.c - out of memory while an op records its autograd node: every differentiable op either
   returns a result that carries its history or fails with an error, never a result whose gradients
   would silently be lost. The allocations are made to fail one at a time by a calloc that the test
   puts in front of the C library's (the nodes and view headers come from calloc). */
#include <stdlib.h>
#include "check.h"
#include "tensor.h"
#include "ops.h"
#include "autograd.h"
#include "nn.h"
#include "loss.h"
#include "rng.h"
#include "blas.h"

#if defined(__SANITIZE_ADDRESS__)
#define INJECT 0   /* ASan owns calloc: memory from the C library's would confuse its free() */
#else
#define INJECT 1
void *__libc_calloc(size_t n, size_t size);
static int countdown = -1;   /* callocs that still succeed before one fails; -1: none fails */
static int injected;         /* the armed failure happened */
void *calloc(size_t n, size_t size) {
  if (countdown == 0) { countdown = -1; injected = 1; return NULL; }
  if (countdown > 0) countdown--;
  return __libc_calloc(n, size);
}
#endif

static em_rng rng;
static em_tensor *x, *y, *w, *lw, *cw, *labels, *idx;

static em_tensor *leaf(int ndim, const int64_t *shape) {
  em_tensor *t = em_tensor_new(ndim, shape);
  em_tensor_uniform_(t, &rng, 0.1f, 1.0f);
  t->requires_grad = 1;
  return t;
}

static em_tensor *op_exp(void) { return em_unary(EM_UN_EXP, x); }
static em_tensor *op_mul(void) { return em_binary(EM_BIN_MUL, x, y); }
static em_tensor *op_clamp(void) { return em_clamp(x, 0.2f, 0.8f); }
static em_tensor *op_leaky(void) { return em_leaky_relu(x, 0.1f); }
static em_tensor *op_where(void) { return em_where(y, x, y); }
static em_tensor *op_sum(void) { return em_sum(x, 1, 0); }
static em_tensor *op_mean(void) { return em_mean(x, EM_ALL, 0); }
static em_tensor *op_max(void) { return em_max(x, 0, 1); }
static em_tensor *op_softmax(void) { return em_softmax(x, 1); }
static em_tensor *op_log_softmax(void) { return em_log_softmax(x, 0); }
static em_tensor *op_reshape(void) { int64_t s[1] = {12}; return em_reshape(x, 1, s); }
static em_tensor *op_transpose(void) { return em_transpose(x, 0, 1); }
static em_tensor *op_narrow(void) { return em_narrow(x, 1, 1, 2); }
static em_tensor *op_select(void) { return em_select(x, 0, 2); }
static em_tensor *op_expand(void) { int64_t s[3] = {2, 3, 4}; return em_expand(x, 3, s); }
static em_tensor *op_contiguous(void) {
  em_tensor *t = em_transpose(x, 0, 1);
  em_tensor *r = t ? em_contiguous(t) : NULL;
  em_tensor_release(t);
  return r;
}
static em_tensor *op_cat(void) { em_tensor *ts[2] = {x, y}; return em_cat(2, ts, 0); }
static em_tensor *op_index_select(void) { return em_index_select(x, 0, idx); }
static em_tensor *op_matmul(void) { return em_matmul(x, w); }
static em_tensor *op_linear(void) { return em_linear(x, lw, NULL); }
static em_tensor *op_conv2d(void) {
  int64_t s[4] = {1, 3, 1, 4};
  em_tensor *img = em_tensor_view_raw(x, 4, s);   /* x is contiguous: [1 x 3 x 1 x 4] */
  em_conv2d_opts o = {.stride = {1, 1}, .padding = {0, 0}, .dilation = {1, 1}};
  em_tensor *r = img ? em_conv2d(img, cw, NULL, &o) : NULL;
  em_tensor_release(img);
  return r;
}
static em_tensor *pool(int is_max) {
  em_pool2d_opts o = {{1, 2}, {1, 2}, {0, 0}, {1, 1}, 0, 1};
  int64_t s[3] = {1, 3, 4};
  em_tensor *img = em_reshape(x, 3, s);
  em_tensor *r = img ? (is_max ? em_max_pool2d(img, &o) : em_avg_pool2d(img, &o)) : NULL;
  em_tensor_release(img);
  return r;
}
static em_tensor *op_max_pool(void) { return pool(1); }
static em_tensor *op_avg_pool(void) { return pool(0); }
static em_tensor *op_batch_norm(void) { return em_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f); }
static em_tensor *op_dropout(void) { return em_dropout(x, 0.5f, &rng); }
static em_tensor *op_mse(void) { return em_loss_mse(x, y, EM_REDUCE_MEAN); }
static em_tensor *op_cross_entropy(void) { return em_loss_cross_entropy(x, labels, NULL); }
static em_tensor *op_nll(void) { return em_loss_nll(x, labels, NULL); }

static const struct { const char *name; em_tensor *(*fn)(void); } ops[] = {
  {"exp", op_exp}, {"mul", op_mul}, {"clamp", op_clamp}, {"leaky_relu", op_leaky}, {"where", op_where},
  {"sum", op_sum}, {"mean", op_mean}, {"max", op_max}, {"softmax", op_softmax},
  {"log_softmax", op_log_softmax}, {"reshape", op_reshape}, {"transpose", op_transpose},
  {"narrow", op_narrow}, {"select", op_select}, {"expand", op_expand}, {"contiguous", op_contiguous},
  {"cat", op_cat}, {"index_select", op_index_select}, {"matmul", op_matmul}, {"linear", op_linear},
  {"conv2d", op_conv2d}, {"max_pool2d", op_max_pool}, {"avg_pool2d", op_avg_pool},
  {"batch_norm", op_batch_norm}, {"dropout", op_dropout}, {"mse", op_mse},
  {"cross_entropy", op_cross_entropy}, {"nll", op_nll}};

/* a result is whole when it carries its node and a backward pass through it works */
static int whole(em_tensor *r) {
  if (!r->grad_fn) return 0;
  em_tensor *s = em_sum(r, EM_ALL, 0);
  int ok = s && em_backward(s, NULL, 0) == 0;
  em_tensor_release(s);
  return ok;
}

static void test_out_of_memory_while_recording(void) {
#if INJECT
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int64_t base = em_live_bytes();
    int failures = 0, succeeded = 0;
    for (int n = 0; n < 64 && !succeeded; n++) {
      em_clear_error();
      injected = 0;
      countdown = n;
      em_tensor *r = ops[k].fn();
      countdown = -1;
      if (!r) {
        failures++;
        if (!injected) fprintf(stderr, "FAIL %s: %s\n", ops[k].name, em_error());
        CHECK(injected);
        CHECK_STR_CONTAINS(em_error(), "out of memory");
        CHECK(em_error_kind() == EM_ENOMEM);
        continue;
      }
      int ok = whole(r);
      if (!ok) fprintf(stderr, "FAIL %s: result without its gradient after calloc %d failed\n", ops[k].name, n);
      CHECK(ok);
      succeeded = !injected;   /* every calloc the op makes has been tried */
      em_tensor_release(r);
    }
    if (!failures) fprintf(stderr, "FAIL %s: no allocation failed\n", ops[k].name);
    CHECK(failures > 0 && succeeded);
    em_tensor_release(x->grad); x->grad = NULL;
    em_tensor_release(y->grad); y->grad = NULL;
    em_tensor_release(w->grad); w->grad = NULL;
    em_tensor_release(lw->grad); lw->grad = NULL;
    em_tensor_release(cw->grad); cw->grad = NULL;
    CHECK(em_live_bytes() == base);
  }
#else
  (void)ops, (void)whole;
  printf("# skip: calloc cannot be replaced under AddressSanitizer\n");
#endif
}

/* the op's own state reaches its backward: narrow and select at non-zero offsets, cat along dim 1 */
static void test_state_reaches_backward(void) {
  int64_t s[2] = {3, 4};
  em_tensor *a = leaf(2, s), *b = leaf(2, s);
  em_tensor *n = em_narrow(a, 1, 1, 2), *sel = em_select(a, 0, 2);
  em_tensor *ts[2] = {a, b};
  em_tensor *c = em_cat(2, ts, 1), *cn = em_narrow(c, 1, 3, 2);   /* a's last column, b's first */
  em_tensor *p0 = em_sum(n, EM_ALL, 0), *p1 = em_sum(sel, EM_ALL, 0), *p2 = em_sum(cn, EM_ALL, 0);
  em_tensor *t01 = em_binary(EM_BIN_ADD, p0, p1), *total = em_binary(EM_BIN_ADD, t01, p2);
  CHECK(em_backward(total, NULL, 0) == 0);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) {
      /* a: 1 on columns 2..3 (narrow), 1 on row 3 (select), 1 on column 4 (cat, narrow); b: column 1 */
      CHECK(em_data(a->grad)[i * 4 + j] == (float)((j == 1 || j == 2) + (i == 2) + (j == 3)));
      CHECK(em_data(b->grad)[i * 4 + j] == (float)(j == 0));
    }
  em_tensor *all[] = {total, t01, p0, p1, p2, cn, c, sel, n, a, b};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) em_tensor_release(all[i]);
}

int main(void) {
  em_blas_init();          /* OpenBLAS loads before any calloc is made to fail */
  em_set_num_threads(1);   /* and no worker thread starts while one is */
  em_rng_seed(&rng, 7);
  int64_t s34[2] = {3, 4}, s43[2] = {4, 3}, s24[2] = {2, 4}, s3[1] = {3}, w4[4] = {2, 3, 1, 1};
  x = leaf(2, s34);
  y = leaf(2, s34);
  w = leaf(2, s43);
  lw = leaf(2, s24);
  cw = leaf(4, w4);
  labels = em_tensor_new(1, s3);
  idx = em_tensor_new(1, s3);
  for (int i = 0; i < 3; i++) { em_data(labels)[i] = (float)(i + 1);   /* class labels are 1-based */ em_data(idx)[i] = (float)(2 - i); }
  test_out_of_memory_while_recording();
  test_state_reaches_backward();
  em_tensor_release(x); em_tensor_release(y); em_tensor_release(w); em_tensor_release(lw); em_tensor_release(cw);
  em_tensor_release(labels); em_tensor_release(idx);
  return CHECK_DONE();
}
