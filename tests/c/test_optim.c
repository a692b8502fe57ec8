/* test_optim.c - the fused optimizer steps of core/optim.c against hand-computed updates (the arithmetic
   of every expected value is written next to it), the L1 proximal step, gradient clipping, and the
   errors for mismatched, non-contiguous or aliased buffers. */
#include <math.h>
#include <stdarg.h>
#include "check.h"
#include "optim.h"
#include "blas.h"

/* a 1-d tensor holding n given values */
static em_tensor *vec(int n, ...) {
  int64_t shape[1] = {n};
  em_tensor *t = em_tensor_new(1, shape);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) em_data(t)[i] = (float)va_arg(ap, double);
  va_end(ap);
  return t;
}

static em_tensor *zeros(int n) {
  int64_t shape[1] = {n};
  return em_tensor_zeros(1, shape);
}

static void set(em_tensor *t, int n, ...) {
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) em_data(t)[i] = (float)va_arg(ap, double);
  va_end(ap);
}

#define AT(t, i) ((double)em_data(t)[i])

static void test_sgd(void) {
  /* momentum 0.9, dampening 0.5, weight decay 0.1, lr 0.1; p = [1, -2], g = [0.5, 1] both steps
     step 1: d = g + 0.1 p = [0.6, 0.8]; first step: buf = d = [0.6, 0.8]; p = p - 0.1 buf = [0.94, -2.08]
     step 2: d = [0.5 + 0.094, 1 - 0.208] = [0.594, 0.792]
             buf = 0.9 [0.6, 0.8] + 0.5 [0.594, 0.792] = [0.837, 1.116]
             p = [0.94 - 0.0837, -2.08 - 0.1116] = [0.8563, -2.1916] */
  em_tensor *p = vec(2, 1.0, -2.0), *g = vec(2, 0.5, 1.0), *buf = zeros(2);
  em_sgd_cfg c = {.lr = 0.1, .momentum = 0.9, .dampening = 0.5, .weight_decay = 0.1};
  CHECK(em_sgd_step(p, g, buf, 1, &c) == 0);
  CHECK_CLOSE(AT(buf, 0), 0.6, 1e-6);
  CHECK_CLOSE(AT(buf, 1), 0.8, 1e-6);
  CHECK_CLOSE(AT(p, 0), 0.94, 1e-6);
  CHECK_CLOSE(AT(p, 1), -2.08, 1e-6);
  CHECK(em_sgd_step(p, g, buf, 0, &c) == 0);
  CHECK_CLOSE(AT(buf, 0), 0.837, 1e-6);
  CHECK_CLOSE(AT(buf, 1), 1.116, 1e-6);
  CHECK_CLOSE(AT(p, 0), 0.8563, 1e-6);
  CHECK_CLOSE(AT(p, 1), -2.1916, 1e-6);

  /* nesterov, momentum 0.9, lr 0.1, p = 1, g = 1:
     step 1: buf = 1; d = g + 0.9 buf = 1.9; p = 1 - 0.19 = 0.81
     step 2: buf = 0.9 + 1 = 1.9; d = 1 + 0.9 * 1.9 = 2.71; p = 0.81 - 0.271 = 0.539 */
  em_tensor *q = vec(1, 1.0), *gq = vec(1, 1.0), *bq = zeros(1);
  em_sgd_cfg n = {.lr = 0.1, .momentum = 0.9, .nesterov = 1};
  CHECK(em_sgd_step(q, gq, bq, 1, &n) == 0);
  CHECK_CLOSE(AT(q, 0), 0.81, 1e-6);
  CHECK(em_sgd_step(q, gq, bq, 0, &n) == 0);
  CHECK_CLOSE(AT(q, 0), 0.539, 1e-6);

  /* maximize negates the gradient before decay: p = 1, g = 2, wd 0.5, lr 0.1:
     d = -2 + 0.5 * 1 = -1.5; p = 1 + 0.15 = 1.15. Plain SGD without momentum needs no buffer. */
  em_tensor *r = vec(1, 1.0), *gr = vec(1, 2.0);
  em_sgd_cfg mx = {.lr = 0.1, .weight_decay = 0.5, .maximize = 1};
  CHECK(em_sgd_step(r, gr, NULL, 0, &mx) == 0);
  CHECK_CLOSE(AT(r, 0), 1.15, 1e-6);

  em_tensor_release(p); em_tensor_release(g); em_tensor_release(buf);
  em_tensor_release(q); em_tensor_release(gq); em_tensor_release(bq);
  em_tensor_release(r); em_tensor_release(gr);
}

static void test_adam(void) {
  /* lr 0.1, betas (0.9, 0.999), eps 1e-8, p = 1
     step 1, g = 0.5: m = 0.1 * 0.5 = 0.05; v = 0.001 * 0.25 = 0.00025
       m^ = 0.05 / (1 - 0.9) = 0.5; v^ = 0.00025 / (1 - 0.999) = 0.25; p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9
     step 2, g = -1: m = 0.045 - 0.1 = -0.055; v = 0.999 * 0.00025 + 0.001 = 0.00124975
       bc1 = 1 - 0.81 = 0.19; bc2 = 1 - 0.998001 = 0.001999
       m^ = -0.289473684; v^ = 0.625187594; sqrt = 0.790688051
       p = 0.9 + 0.1 * 0.289473684 / 0.790688051 = 0.936610354 */
  em_tensor *p = vec(1, 1.0), *g = vec(1, 0.5), *m = zeros(1), *v = zeros(1);
  em_adam_cfg c = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  CHECK(em_adam_step(p, g, m, v, NULL, 1, &c) == 0);
  CHECK_CLOSE(AT(m, 0), 0.05, 1e-7);
  CHECK_CLOSE(AT(v, 0), 0.00025, 1e-9);
  CHECK_CLOSE(AT(p, 0), 0.9, 1e-6);
  set(g, 1, -1.0);
  CHECK(em_adam_step(p, g, m, v, NULL, 2, &c) == 0);
  CHECK_CLOSE(AT(m, 0), -0.055, 1e-7);
  CHECK_CLOSE(AT(v, 0), 0.00124975, 1e-9);
  CHECK_CLOSE(AT(p, 0), 0.936610354, 1e-6);

  /* amsgrad, eps 0, p = 0: step 1, g = 1: m = 0.1, v = 0.001, m^ = 1, v^ = 1, p = -0.1
     step 2, g = 0: m = 0.09, v = 0.000999 < vmax = 0.001 (kept)
       m^ = 0.09 / 0.19 = 0.473684211; amsgrad v^ = 0.001 / 0.001999 = 0.500250125
       p = -0.1 - 0.1 * 0.473684211 / sqrt(0.500250125) = -0.166972314
       (plain Adam would use v^ = 0.000999 / 0.001999 and give -0.167005825) */
  em_tensor *a = vec(1, 0.0), *ga = vec(1, 1.0), *ma = zeros(1), *va = zeros(1), *vm = zeros(1);
  em_adam_cfg ams = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 0.0, .amsgrad = 1};
  CHECK(em_adam_step(a, ga, ma, va, vm, 1, &ams) == 0);
  CHECK_CLOSE(AT(a, 0), -0.1, 1e-6);
  set(ga, 1, 0.0);
  CHECK(em_adam_step(a, ga, ma, va, vm, 2, &ams) == 0);
  CHECK_CLOSE(AT(vm, 0), 0.001, 1e-9);
  CHECK_CLOSE(AT(va, 0), 0.000999, 1e-9);
  CHECK_CLOSE(AT(a, 0), -0.166972314, 1e-6);
  CHECK(fabs(AT(a, 0) - -0.167005825) > 1e-5);

  /* weight decay 0.1 with g = 0, lr 0.1, p = 1:
     coupled (Adam): d = 0.1; m = 0.01; v = 1e-5; m^ = 0.1; v^ = 0.01; p = 1 - 0.1 * 0.1 / 0.1 = 0.9
     decoupled (AdamW): p = 1 * (1 - 0.1 * 0.1) = 0.99; m = v = 0 so the Adam part adds 0 */
  em_tensor *w1 = vec(1, 1.0), *w2 = vec(1, 1.0), *g0 = vec(1, 0.0);
  em_tensor *m1 = zeros(1), *v1 = zeros(1), *m2 = zeros(1), *v2 = zeros(1);
  em_adam_cfg coupled = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
  em_adam_cfg decoupled = coupled;
  decoupled.decoupled = 1;
  CHECK(em_adam_step(w1, g0, m1, v1, NULL, 1, &coupled) == 0);
  CHECK(em_adam_step(w2, g0, m2, v2, NULL, 1, &decoupled) == 0);
  CHECK_CLOSE(AT(w1, 0), 0.9, 1e-6);
  CHECK_CLOSE(AT(w2, 0), 0.99, 1e-7);
  CHECK(AT(m2, 0) == 0.0);

  em_tensor *list[] = {p, g, m, v, a, ga, ma, va, vm, w1, w2, g0, m1, v1, m2, v2};
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) em_tensor_release(list[i]);
}

static void test_rmsprop(void) {
  /* plain: lr 0.01, alpha 0.99, p = 1, g = 1: sq = 0.01; avg = 0.1 + 1e-8; p = 1 - 0.01 / 0.1 = 0.9 */
  em_tensor *p = vec(1, 1.0), *g = vec(1, 1.0), *sq = zeros(1);
  em_rmsprop_cfg c = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8};
  CHECK(em_rmsprop_step(p, g, sq, NULL, NULL, &c) == 0);
  CHECK_CLOSE(AT(sq, 0), 0.01, 1e-8);
  CHECK_CLOSE(AT(p, 0), 0.9, 1e-6);

  /* centered + momentum 0.5, lr 0.01, p = 1, g = 1 twice:
     step 1: sq = 0.01; ga = 0.01; avg = sqrt(0.01 - 0.0001) = 0.0994987537
             buf = 1 / avg = 10.0503771; p = 1 - 0.100503771 = 0.899496229
     step 2: sq = 0.0099 + 0.01 = 0.0199; ga = 0.0199; avg = sqrt(0.0199 - 0.00039601) = 0.139656696
             buf = 5.02518857 + 7.16041570 = 12.1856043; p = 0.899496229 - 0.121856043 = 0.777640186 */
  em_tensor *q = vec(1, 1.0), *s2 = zeros(1), *ga = zeros(1), *buf = zeros(1);
  em_rmsprop_cfg cm = {.lr = 0.01, .alpha = 0.99, .eps = 1e-8, .momentum = 0.5, .centered = 1};
  CHECK(em_rmsprop_step(q, g, s2, ga, buf, &cm) == 0);
  CHECK_CLOSE(AT(buf, 0), 10.0503771, 1e-6);
  CHECK_CLOSE(AT(q, 0), 0.899496229, 1e-6);
  CHECK(em_rmsprop_step(q, g, s2, ga, buf, &cm) == 0);
  CHECK_CLOSE(AT(ga, 0), 0.0199, 1e-7);
  CHECK_CLOSE(AT(buf, 0), 12.1856043, 1e-6);
  CHECK_CLOSE(AT(q, 0), 0.777640186, 1e-6);

  em_tensor *list[] = {p, g, sq, q, s2, ga, buf};
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) em_tensor_release(list[i]);
}

static void test_adagrad(void) {
  /* lr 0.1, lr_decay 0.5, initial accumulator 0.1, p = 1, g = 2 twice:
     step 1: sum = 0.1 + 4 = 4.1; clr = 0.1; p = 1 - 0.1 * 2 / 2.02484567 = 0.901227040
     step 2: sum = 8.1; clr = 0.1 / (1 + 0.5) = 0.0666667; p = 0.901227040 - 0.133333 / 2.84604989
             = 0.854378482 */
  em_tensor *p = vec(1, 1.0), *g = vec(1, 2.0), *sum = vec(1, 0.1);
  em_adagrad_cfg c = {.lr = 0.1, .lr_decay = 0.5, .eps = 1e-10};
  CHECK(em_adagrad_step(p, g, sum, 1, &c) == 0);
  CHECK_CLOSE(AT(sum, 0), 4.1, 1e-6);
  CHECK_CLOSE(AT(p, 0), 0.901227040, 1e-6);
  CHECK(em_adagrad_step(p, g, sum, 2, &c) == 0);
  CHECK_CLOSE(AT(p, 0), 0.854378482, 1e-6);
  em_tensor_release(p); em_tensor_release(g); em_tensor_release(sum);
}

static void test_l1(void) {
  /* g = 0, lr 0.1, l1 1: threshold 0.1. [0.05, -0.05, 1, -1, 0.1] -> [0, 0, 0.9, -0.9, 0];
     zeros are exact and positive */
  em_tensor *p = vec(5, 0.05, -0.05, 1.0, -1.0, 0.1), *g = zeros(5);
  em_sgd_cfg c = {.lr = 0.1, .l1 = 1.0};
  CHECK(em_sgd_step(p, g, NULL, 0, &c) == 0);
  CHECK(em_data(p)[0] == 0.0f && !signbit(em_data(p)[0]));
  CHECK(em_data(p)[1] == 0.0f && !signbit(em_data(p)[1]));
  CHECK_CLOSE(AT(p, 2), 0.9, 1e-7);
  CHECK_CLOSE(AT(p, 3), -0.9, 1e-7);
  CHECK(em_data(p)[4] == 0.0f);
  /* a zero stays exactly zero while its gradient is weaker than l1: g = 0.5, lr 0.1, l1 1
     SGD moves it to -0.05, the threshold 0.1 brings it back to 0 */
  set(g, 5, 0.5, 0.5, 0.5, 0.5, 0.5);
  CHECK(em_sgd_step(p, g, NULL, 0, &c) == 0);
  CHECK(em_data(p)[0] == 0.0f);
  CHECK_CLOSE(AT(p, 2), 0.9 - 0.05 - 0.1, 1e-6);
  em_tensor_release(p); em_tensor_release(g);
}

static void test_errors(void) {
  em_tensor *p = vec(2, 1.0, 2.0), *g3 = zeros(3), *g = zeros(2);
  em_sgd_cfg c = {.lr = 0.1, .momentum = 0.9};
  CHECK(em_sgd_step(p, g3, NULL, 1, &c) == -1);
  CHECK_STR_CONTAINS(em_error(), "optim.sgd: gradient has shape [3] but the parameter has shape [2]");
  CHECK(em_sgd_step(p, g, NULL, 1, &c) == -1);
  CHECK_STR_CONTAINS(em_error(), "momentum buffer is missing");
  CHECK(em_sgd_step(p, NULL, NULL, 1, &c) == -1);
  CHECK_STR_CONTAINS(em_error(), "has no gradient");
  /* the gradient is the parameter itself: refused, nothing written */
  em_sgd_cfg plain = {.lr = 0.1};
  CHECK(em_sgd_step(p, p, NULL, 0, &plain) == -1);
  CHECK_STR_CONTAINS(em_error(), "must not share memory");
  CHECK(AT(p, 0) == 1.0 && AT(p, 1) == 2.0);

  int64_t shape[2] = {2, 3};
  em_tensor *mat = em_tensor_zeros(2, shape), *tr = em_tensor_transpose_raw(mat, 0, 1);
  em_tensor *gt = em_tensor_clone(tr);
  CHECK(em_sgd_step(tr, gt, NULL, 0, &plain) == -1);
  CHECK_STR_CONTAINS(em_error(), "parameter [3 x 2] is not contiguous");

  em_tensor *m = zeros(2), *v = zeros(2);
  em_adam_cfg a = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  CHECK(em_adam_step(p, g, m, v, NULL, 0, &a) == -1);
  CHECK_STR_CONTAINS(em_error(), "optim.adam: step count must be >= 1 (got 0)");
  a.amsgrad = 1;
  CHECK(em_adam_step(p, g, m, v, NULL, 1, &a) == -1);
  CHECK_STR_CONTAINS(em_error(), "max second moment (max_exp_avg_sq) is missing");
  a.decoupled = 1;
  CHECK(em_adam_step(p, g, m, g3, m, 1, &a) == -1);
  CHECK_STR_CONTAINS(em_error(), "optim.adamw: second moment (exp_avg_sq) has shape [3]");
  em_rmsprop_cfg r = {.lr = 0.01, .alpha = 0.99, .centered = 1};
  CHECK(em_rmsprop_step(p, g, m, NULL, NULL, &r) == -1);
  CHECK_STR_CONTAINS(em_error(), "optim.rmsprop: gradient average (grad_avg) is missing");
  em_adagrad_cfg ad = {.lr = 0.1};
  CHECK(em_adagrad_step(p, g, NULL, 1, &ad) == -1);
  CHECK_STR_CONTAINS(em_error(), "optim.adagrad: accumulator (sum) is missing");

  em_tensor *list[] = {p, g3, g, mat, tr, gt, m, v};
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) em_tensor_release(list[i]);
}

static void test_clip(void) {
  /* grads [3, 4] and [12] (and a parameter without a gradient, skipped)
     L2 = sqrt(9 + 16 + 144) = 13, L1 = 19, inf = 12, L3 = (27 + 64 + 1728)^(1/3) = 1819^(1/3) */
  em_tensor *a = zeros(2), *b = zeros(1), *c = zeros(4);
  a->grad = vec(2, 3.0, 4.0);
  b->grad = vec(1, -12.0);
  em_tensor *ps[3] = {a, b, c};
  double total;
  CHECK(em_grad_norm(ps, 3, 1.0, &total) == 0);
  CHECK_CLOSE(total, 19.0, 1e-12);
  CHECK(em_grad_norm(ps, 3, 3.0, &total) == 0);
  CHECK_CLOSE(total, cbrt(1819.0), 1e-12);
  CHECK(em_grad_norm(ps, 3, 0.0, &total) == -1);
  CHECK_STR_CONTAINS(em_error(), "norm_type must be > 0 or inf (got 0)");

  /* max_norm above the norm: nothing changes */
  CHECK(em_clip_grad_norm(ps, 3, 20.0, 2.0, &total) == 0);
  CHECK_CLOSE(total, 13.0, 1e-12);
  CHECK(AT(a->grad, 0) == 3.0 && AT(b->grad, 0) == -12.0);
  /* max_norm 6.5: factor 6.5 / (13 + 1e-6) = 0.49999996 -> [1.5, 2], [-6] */
  CHECK(em_clip_grad_norm(ps, 3, 6.5, 2.0, &total) == 0);
  CHECK_CLOSE(total, 13.0, 1e-12);
  CHECK_CLOSE(AT(a->grad, 0), 1.5, 1e-6);
  CHECK_CLOSE(AT(a->grad, 1), 2.0, 1e-6);
  CHECK_CLOSE(AT(b->grad, 0), -6.0, 1e-6);
  /* inf norm of [1.5, 2], [-6] is 6; max_norm 3 -> factor 0.5 */
  CHECK(em_clip_grad_norm(ps, 3, 3.0, INFINITY, &total) == 0);
  CHECK_CLOSE(total, 6.0, 1e-6);
  CHECK_CLOSE(AT(a->grad, 1), 1.0, 1e-6);
  CHECK_CLOSE(AT(b->grad, 0), -3.0, 1e-6);

  /* a NaN: the norm is NaN (inf norm too) and the gradients stay as they were */
  em_data(a->grad)[0] = NAN;
  CHECK(em_clip_grad_norm(ps, 3, 1.0, 2.0, &total) == 0);
  CHECK(isnan(total));
  CHECK(em_clip_grad_norm(ps, 3, 1.0, INFINITY, &total) == 0);
  CHECK(isnan(total));
  CHECK_CLOSE(AT(b->grad, 0), -3.0, 1e-6);
  CHECK(em_clip_grad_norm(ps, 3, -1.0, 2.0, &total) == -1);
  CHECK_STR_CONTAINS(em_error(), "max_norm must be a finite number >= 0 (got -1)");

  /* clip by value 2.5: [NaN, 1], [-3] -> [NaN, 1], [-2.5] */
  CHECK(em_clip_grad_value(ps, 3, 2.5) == 0);
  CHECK(isnan(em_data(a->grad)[0]));
  CHECK_CLOSE(AT(a->grad, 1), 1.0, 1e-6);
  CHECK(AT(b->grad, 0) == -2.5);
  CHECK(em_clip_grad_value(ps, 3, -1) == -1);
  CHECK_STR_CONTAINS(em_error(), "clip_value must be a finite number >= 0");
  em_tensor_release(a); em_tensor_release(b); em_tensor_release(c);
}

/* a parameter large enough to be split into blocks and over threads (and not a multiple of either)
   gets, element for element, the same bits as the same update done one element at a time */
static void test_large(void) {
  const int64_t n = (1 << 20) + 37;
  int64_t shape[1] = {n};
  em_tensor *p = em_tensor_new(1, shape), *g = em_tensor_new(1, shape);
  em_tensor *m = em_tensor_zeros(1, shape), *v = em_tensor_zeros(1, shape), *vm = em_tensor_zeros(1, shape);
  for (int64_t i = 0; i < n; i++) {
    em_data(p)[i] = (float)((double)(i % 1000) * 1e-3 - 0.5);
    em_data(g)[i] = (float)sin((double)i);
  }
  em_tensor *p0 = em_tensor_clone(p);
  em_adam_cfg c = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1,
                   .amsgrad = 1, .decoupled = 1, .l1 = 0.5};
  int threads = em_get_num_threads();
  em_set_num_threads(2);
  CHECK(em_adam_step(p, g, m, v, vm, 1, &c) == 0);
  CHECK(em_adam_step(p, g, m, v, vm, 2, &c) == 0);
  em_set_num_threads(threads);
  int64_t bad = 0, nzero = 0;
  em_tensor *q = vec(1, 0.0), *gq = vec(1, 0.0), *mq = zeros(1), *vq = zeros(1), *wq = zeros(1);
  for (int64_t i = 0; i < n; i++) {
    em_data(q)[0] = em_data(p0)[i];
    em_data(gq)[0] = em_data(g)[i];
    em_data(mq)[0] = em_data(vq)[0] = em_data(wq)[0] = 0.0f;
    em_adam_step(q, gq, mq, vq, wq, 1, &c);
    em_adam_step(q, gq, mq, vq, wq, 2, &c);
    if (memcmp(em_data(q), em_data(p) + i, sizeof(float)) || memcmp(em_data(wq), em_data(vm) + i, sizeof(float)))
      bad++;
    nzero += em_data(p)[i] == 0.0f;
  }
  CHECK(bad == 0);
  CHECK(nzero > 0);          /* the L1 step (threshold 0.005) zeroed the weights near 0 */
  em_tensor *list[] = {p, g, m, v, vm, p0, q, gq, mq, vq, wq};
  for (size_t i = 0; i < sizeof list / sizeof *list; i++) em_tensor_release(list[i]);
}

int main(void) {
  test_sgd();
  test_adam();
  test_rmsprop();
  test_adagrad();
  test_l1();
  test_errors();
  test_clip();
  test_large();
  return CHECK_DONE();
}
