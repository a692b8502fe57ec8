/* test_loss.c - the core loss kernels (core/loss.c): hand-computed values and gradients, central
   differences through the C API, stability at extreme inputs, strided inputs, and error messages. */
#include <math.h>
#include <stdlib.h>
#include "check.h"
#include "loss.h"
#include "ops.h"
#include "autograd.h"

static em_tensor *vec(int n, const float *v) {
  int64_t s[1] = {n};
  em_tensor *t = em_tensor_new(1, s);
  for (int i = 0; i < n; i++) em_data(t)[i] = v[i];
  return t;
}

static em_tensor *mat(int r, int c, const float *v) {
  int64_t s[2] = {r, c};
  em_tensor *t = em_tensor_new(2, s);
  for (int i = 0; i < r * c; i++) em_data(t)[i] = v[i];
  return t;
}

static float item(em_tensor *t) { return em_get_flat(t, 0); }

typedef em_tensor *(*loss_fn)(em_tensor *x, void *ctx);

/* central differences of the (0-d) loss f(x) against the gradient autograd leaves in x->grad */
static double max_grad_error(loss_fn f, em_tensor *x, void *ctx, float eps) {
  em_tensor_release(x->grad);
  x->grad = NULL;
  x->requires_grad = 1;
  em_tensor *l = f(x, ctx);
  if (!l || em_backward(l, NULL, 0)) { em_tensor_release(l); return INFINITY; }
  em_tensor_release(l);
  int old = em_set_grad_enabled(0);
  double worst = 0;
  float *p = em_data(x);
  for (int64_t i = 0; i < em_numel(x); i++) {
    float orig = p[i];
    p[i] = orig + eps;
    em_tensor *up = f(x, ctx);
    p[i] = orig - eps;
    em_tensor *down = f(x, ctx);
    p[i] = orig;
    double num = ((double)item(up) - (double)item(down)) / (2.0 * eps);
    double ana = em_data(x->grad)[i];
    double err = fabs(num - ana) / fmax(1.0, fmax(fabs(num), fabs(ana)));
    if (!(err <= worst)) worst = err;   /* NaN wins */
    em_tensor_release(up);
    em_tensor_release(down);
  }
  em_set_grad_enabled(old);
  return worst;
}

/* ---- regression ---- */

static void test_regression(void) {
  /* x - y = d = {-0.5, -2, 1, 2.5} */
  const float xv[] = {0.5f, -1, 2, 3}, yv[] = {1, 1, 1, 0.5f};
  em_tensor *x = vec(4, xv), *y = vec(4, yv);
  em_tensor *l;
  l = em_loss_mse(x, y, EM_REDUCE_MEAN); CHECK_CLOSE(item(l), 2.875, 1e-6); CHECK(l->ndim == 0); em_tensor_release(l);
  l = em_loss_mse(x, y, EM_REDUCE_SUM); CHECK_CLOSE(item(l), 11.5, 1e-6); em_tensor_release(l);
  l = em_loss_mse(x, y, EM_REDUCE_NONE);
  CHECK(l->ndim == 1 && l->shape[0] == 4);
  CHECK_CLOSE(em_data(l)[3], 6.25, 1e-6);
  em_tensor_release(l);
  l = em_loss_mae(x, y, EM_REDUCE_MEAN); CHECK_CLOSE(item(l), 1.5, 1e-6); em_tensor_release(l);
  /* huber delta 1: {0.125, 1.5, 0.5, 2} -> mean 1.03125 */
  l = em_loss_huber(x, y, EM_REDUCE_MEAN, 1.0f); CHECK_CLOSE(item(l), 1.03125, 1e-6); em_tensor_release(l);
  /* smooth_l1 beta 2: {0.0625, 1, 0.25, 1.5} -> sum 2.8125 */
  l = em_loss_smooth_l1(x, y, EM_REDUCE_SUM, 2.0f); CHECK_CLOSE(item(l), 2.8125, 1e-6); em_tensor_release(l);
  /* rmse: sqrt(2.875 + 1e-8) */
  l = em_loss_rmse(x, y, EM_REDUCE_MEAN, 1e-8f); CHECK_CLOSE(item(l), sqrt(2.875), 1e-6); em_tensor_release(l);

  /* gradient of mse (mean) to input and target: +-2 d / 4 */
  x->requires_grad = 1;
  y->requires_grad = 1;
  l = em_loss_mse(x, y, EM_REDUCE_MEAN);
  CHECK(em_backward(l, NULL, 0) == 0);
  CHECK_CLOSE(em_data(x->grad)[1], -1.0, 1e-6);
  CHECK_CLOSE(em_data(y->grad)[3], -1.25, 1e-6);
  em_tensor_release(l);
  em_tensor_release(x);
  em_tensor_release(y);
}

static void test_rmse_zero_error(void) {
  const float v[] = {1, 2, 3};
  for (int red = 0; red < 3; red++) {
    em_tensor *x = vec(3, v), *y = vec(3, v);
    x->requires_grad = 1;
    em_tensor *l = em_loss_rmse(x, y, (em_reduction)red, 1e-8f);
    em_tensor *s = em_sum(l, EM_ALL, 0);
    CHECK(em_backward(s, NULL, 0) == 0);
    for (int i = 0; i < 3; i++) CHECK(em_data(x->grad)[i] == 0.0f);   /* finite: 0 / sqrt(eps) */
    em_tensor_release(s);
    em_tensor_release(l);
    em_tensor_release(x);
    em_tensor_release(y);
  }
}

/* ---- class losses ---- */

/* logits {{0, 0, 0}, {0, ln 2, ln 5}}: p row 2 = {1/8, 2/8, 5/8} */
static em_tensor *logits(void) {
  const float v[] = {0, 0, 0, 0, (float)log(2.0), (float)log(5.0)};
  return mat(2, 3, v);
}

static void test_cross_entropy_values(void) {
  em_tensor *x = logits();
  const float lab[] = {2, 3};
  em_tensor *t = vec(2, lab);
  em_class_opts o = EM_CLASS_OPTS_DEFAULT;
  em_tensor *l = em_loss_cross_entropy(x, t, &o);
  CHECK_CLOSE(item(l), (log(3.0) + log(1.6)) / 2, 1e-6);   /* 0.7843080 */
  em_tensor_release(l);
  /* weights {1, 2, 3} and smoothing 0.3: (2 ln 3 + 0.7 * 3 ln 1.6 + 0.1 (ln 8 + 2 ln 4 + 3 ln 1.6)) / 5 */
  const float wv[] = {1, 2, 3};
  em_tensor *w = vec(3, wv);
  o.weight = w;
  o.label_smoothing = 0.3f;
  l = em_loss_cross_entropy(x, t, &o);
  double r2 = 0.7 * 3 * log(1.6) + 0.1 * (log(8.0) + 2 * log(4.0) + 3 * log(1.6));
  CHECK_CLOSE(item(l), (2 * log(3.0) + r2) / 5, 1e-6);   /* 0.7620873 */
  em_tensor_release(l);
  /* gradient without options: (softmax - onehot) / 2 */
  o = (em_class_opts)EM_CLASS_OPTS_DEFAULT;
  x->requires_grad = 1;
  l = em_loss_cross_entropy(x, t, &o);
  CHECK(em_backward(l, NULL, 0) == 0);
  const double g[] = {1.0 / 6, -1.0 / 3, 1.0 / 6, 0.0625, 0.125, -0.1875};
  for (int i = 0; i < 6; i++) CHECK_CLOSE(em_data(x->grad)[i], g[i], 1e-6);
  em_tensor_release(l);
  /* nll of the log-softmax gives the same value */
  em_tensor *lp = em_log_softmax(x, 1);
  l = em_loss_nll(lp, t, &o);
  CHECK_CLOSE(item(l), (log(3.0) + log(1.6)) / 2, 1e-6);
  em_tensor_release(l);
  em_tensor_release(lp);
  em_tensor_release(w);
  em_tensor_release(t);
  em_tensor_release(x);
}

/* a transposed (non-contiguous) logits view gives the same loss as its contiguous copy */
static void test_strided_input(void) {
  const float v[] = {0, 0, 0, 0, (float)log(2.0), (float)log(5.0)};
  int64_t s[2] = {3, 2};
  em_tensor *raw = em_tensor_new(2, s);   /* the transpose of logits() */
  for (int i = 0; i < 2; i++) for (int c = 0; c < 3; c++) em_data(raw)[c * 2 + i] = v[i * 3 + c];
  em_tensor *x = em_tensor_transpose_raw(raw, 0, 1);
  CHECK(!em_is_contiguous(x));
  const float lab[] = {2, 3};
  em_tensor *t = vec(2, lab);
  em_tensor *l = em_loss_cross_entropy(x, t, NULL);
  CHECK_CLOSE(item(l), (log(3.0) + log(1.6)) / 2, 1e-6);
  em_tensor_release(l);
  em_tensor *y = em_tensor_zeros(2, x->shape);
  l = em_loss_mse(x, y, EM_REDUCE_SUM);   /* 2 (ln 2)^2 ... just the squares of all entries */
  CHECK_CLOSE(item(l), log(2.0) * log(2.0) + log(5.0) * log(5.0), 1e-6);
  em_tensor_release(l);
  em_tensor_release(y);
  em_tensor_release(t);
  em_tensor_release(x);
  em_tensor_release(raw);
}

static void test_cross_entropy_stability(void) {
  const float v[] = {1e4f, -1e4f, 1e4f, -1e4f, 1e4f, 1e4f};
  em_tensor *x = mat(3, 2, v);
  const float lab[] = {1, 2, 1};
  em_tensor *t = vec(3, lab);
  em_class_opts o = EM_CLASS_OPTS_DEFAULT;
  o.reduction = EM_REDUCE_NONE;
  x->requires_grad = 1;
  em_tensor *l = em_loss_cross_entropy(x, t, &o);
  CHECK(em_data(l)[0] == 0.0f);
  CHECK_CLOSE(em_data(l)[1], 2e4, 1e-6);
  CHECK_CLOSE(em_data(l)[2], log(2.0), 1e-6);   /* exact despite 1e4's rounding: (m - x) + log s */
  em_tensor *s = em_sum(l, EM_ALL, 0);
  CHECK(em_backward(s, NULL, 0) == 0);
  const double g[] = {0, 0, 1, -1, -0.5, 0.5};
  for (int i = 0; i < 6; i++) CHECK_CLOSE(em_data(x->grad)[i], g[i], 1e-6);
  em_tensor_release(s);
  em_tensor_release(l);
  em_tensor_release(t);
  em_tensor_release(x);
}

/* the fused kernel (its own vectorised exp) against log-softmax and softmax in double, on many rows */
static void test_cross_entropy_accuracy(void) {
  enum { N = 64, C = 37 };
  int64_t s[2] = {N, C};
  em_tensor *x = em_tensor_new(2, s);
  int64_t sn[1] = {N};
  em_tensor *t = em_tensor_new(1, sn);
  unsigned seed = 12345;
  for (int i = 0; i < N * C; i++) {
    seed = seed * 1103515245u + 12345u;
    em_data(x)[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 40.0f;   /* logits in [-20, 20] */
  }
  for (int i = 0; i < N; i++) em_data(t)[i] = (float)(1 + (i * 7) % C);
  em_class_opts o = EM_CLASS_OPTS_DEFAULT;
  o.reduction = EM_REDUCE_NONE;
  x->requires_grad = 1;
  em_tensor *l = em_loss_cross_entropy(x, t, &o);
  em_tensor *sum = em_sum(l, EM_ALL, 0);
  CHECK(em_backward(sum, NULL, 0) == 0);
  double worst_l = 0, worst_g = 0;
  for (int n = 0; n < N; n++) {
    const float *xr = em_data(x) + n * C;
    double m = xr[0], z = 0;
    for (int k = 1; k < C; k++) m = fmax(m, xr[k]);
    for (int k = 0; k < C; k++) z += exp(xr[k] - m);
    int y = (int)em_data(t)[n] - 1;
    double ref = log(z) + m - xr[y];
    worst_l = fmax(worst_l, fabs(em_data(l)[n] - ref) / fmax(1.0, fabs(ref)));
    for (int k = 0; k < C; k++) {
      double g = exp(xr[k] - m) / z - (k == y);
      worst_g = fmax(worst_g, fabs(em_data(x->grad)[n * C + k] - g));
    }
  }
  CHECK(worst_l < 3e-7);   /* measured 1.0e-7: float32 rounding, nothing more */
  CHECK(worst_g < 5e-7);   /* measured 1.9e-7 */
  em_tensor_release(sum);
  em_tensor_release(l);
  em_tensor_release(t);
  em_tensor_release(x);
}

typedef struct { em_tensor *t; em_class_opts o; int fused; } cls_ctx;
static em_tensor *cls_loss(em_tensor *x, void *ctx) {
  cls_ctx *c = ctx;
  return c->fused ? em_loss_cross_entropy(x, c->t, &c->o) : em_loss_nll(x, c->t, &c->o);
}

static void test_class_gradients(void) {
  /* (2, 3, 2) logits: spatial labels, weights, smoothing and one ignored position */
  const float v[] = {0.3f, -1.2f, 2.0f, 0.1f, -0.7f, 0.9f, 1.5f, -0.4f, 0.2f, 0.8f, -1.1f, 0.6f};
  int64_t s[3] = {2, 3, 2}, ts[2] = {2, 2};
  em_tensor *x = em_tensor_new(3, s);
  for (int i = 0; i < 12; i++) em_data(x)[i] = v[i];
  em_tensor *t = em_tensor_new(2, ts);
  const float lab[] = {3, 1, 7, 2};   /* 7 = ignore_index */
  for (int i = 0; i < 4; i++) em_data(t)[i] = lab[i];
  const float wv[] = {0.5f, 2, 1.5f};
  em_tensor *w = vec(3, wv);
  cls_ctx c = {t, EM_CLASS_OPTS_DEFAULT, 1};
  c.o.weight = w;
  c.o.ignore_index = 7;
  c.o.label_smoothing = 0.2f;
  CHECK(max_grad_error(cls_loss, x, &c, 1e-2f) < 1e-3);
  c.o.reduction = EM_REDUCE_SUM;
  CHECK(max_grad_error(cls_loss, x, &c, 1e-2f) < 1e-3);
  c.fused = 0;
  c.o.label_smoothing = 0.0f;
  CHECK(max_grad_error(cls_loss, x, &c, 1e-2f) < 1e-3);
  /* probability targets */
  em_tensor *p = em_softmax(x, 1);
  cls_ctx cp = {p, EM_CLASS_OPTS_DEFAULT, 1};
  cp.o.weight = w;
  cp.o.label_smoothing = 0.1f;
  em_tensor *pd = em_detach(p);
  cp.t = pd;
  CHECK(max_grad_error(cls_loss, x, &cp, 1e-2f) < 1e-3);
  em_tensor_release(pd);
  em_tensor_release(p);
  em_tensor_release(w);
  em_tensor_release(t);
  em_tensor_release(x);
}

/* ---- binary and kl ---- */

typedef struct { em_tensor *t, *w, *pw; int kind; } bin_ctx;
static em_tensor *bin_loss(em_tensor *x, void *ctx) {
  bin_ctx *c = ctx;
  if (c->kind == 0) return em_loss_bce(x, c->t, c->w, EM_REDUCE_MEAN);
  if (c->kind == 1) return em_loss_bce_with_logits(x, c->t, c->w, c->pw, EM_REDUCE_SUM);
  if (c->kind == 2) return em_loss_kl_div(x, c->t, EM_REDUCE_BATCHMEAN, 0);
  return em_loss_rmse(x, c->t, EM_REDUCE_MEAN, 1e-8f);
}

static void test_binary(void) {
  /* bce: p = {0.5, 0.8, 0.25}, y = {1, 0, 1}: {ln 2, -ln 0.2, -ln 0.25} */
  const float pv[] = {0.5f, 0.8f, 0.25f}, yv[] = {1, 0, 1};
  em_tensor *p = vec(3, pv), *y = vec(3, yv);
  em_tensor *l = em_loss_bce(p, y, NULL, EM_REDUCE_SUM);
  CHECK_CLOSE(item(l), log(2.0) - log(0.2) - log(0.25), 1e-6);
  em_tensor_release(l);
  /* clamped logs: p = {0, 1} against y = {1, 0}: 100 each */
  const float p01[] = {0, 1}, y10[] = {1, 0};
  em_tensor *pe = vec(2, p01), *ye = vec(2, y10);
  l = em_loss_bce(pe, ye, NULL, EM_REDUCE_MEAN);
  CHECK_CLOSE(item(l), 100.0, 1e-6);
  em_tensor_release(l);
  /* bce_with_logits at +-100 */
  const float xv[] = {100, -100}, ones[] = {1, 1};
  em_tensor *xl = vec(2, xv), *y1 = vec(2, ones);
  l = em_loss_bce_with_logits(xl, y1, NULL, NULL, EM_REDUCE_NONE);
  CHECK(em_data(l)[0] >= 0.0f && em_data(l)[0] < 1e-30f);
  CHECK_CLOSE(em_data(l)[1], 100.0, 1e-6);
  em_tensor_release(l);

  /* gradient checks */
  const float wv[] = {1, 2, 0.5f};
  em_tensor *w = vec(3, wv);
  bin_ctx c = {y, w, NULL, 0};
  CHECK(max_grad_error(bin_loss, p, &c, 1e-3f) < 1e-2);
  const float lg[] = {0.4f, -2.5f, 1.3f}, pwv[] = {3};
  em_tensor *x = vec(3, lg), *pw = vec(1, pwv);
  const float soft[] = {0.2f, 1, 0.7f};
  em_tensor *ys = vec(3, soft);
  c = (bin_ctx){ys, w, pw, 1};
  CHECK(max_grad_error(bin_loss, x, &c, 1e-2f) < 1e-3);
  /* kl_div (batchmean over a 1-d input: batch size 3) */
  const float tv[] = {0.2f, 0.3f, 0.5f};
  em_tensor *tk = vec(3, tv);
  c = (bin_ctx){tk, NULL, NULL, 2};
  CHECK(max_grad_error(bin_loss, x, &c, 1e-2f) < 1e-3);
  c = (bin_ctx){tk, NULL, NULL, 3};
  CHECK(max_grad_error(bin_loss, x, &c, 1e-2f) < 1e-3);
  em_tensor_release(tk); em_tensor_release(ys); em_tensor_release(pw); em_tensor_release(x);
  em_tensor_release(w); em_tensor_release(xl); em_tensor_release(y1); em_tensor_release(pe); em_tensor_release(ye);
  em_tensor_release(p); em_tensor_release(y);
}

/* ---- errors ---- */

static void test_errors(void) {
  int64_t s2[2] = {64, 1}, s1[1] = {64};
  em_tensor *a = em_tensor_zeros(2, s2), *b = em_tensor_zeros(1, s1);
  CHECK(em_loss_mse(a, b, EM_REDUCE_MEAN) == NULL);
  CHECK_STR_CONTAINS(em_error(), "mse: input [64 x 1] and target [64] have different shapes");
  CHECK(em_loss_mse(a, a, EM_REDUCE_BATCHMEAN) == NULL);
  CHECK_STR_CONTAINS(em_error(), "mse: reduction \"batchmean\" is only for kl_div");
  CHECK(em_loss_huber(a, a, EM_REDUCE_MEAN, 0.0f) == NULL);
  CHECK_STR_CONTAINS(em_error(), "huber: delta must be > 0 (got 0)");

  em_tensor *x = logits();
  const float bad[] = {2, 11}, frac[] = {1.5f, 1};
  em_tensor *t = vec(2, bad), *f = vec(2, frac);
  CHECK(em_loss_cross_entropy(x, t, NULL) == NULL);
  CHECK_STR_CONTAINS(em_error(), "cross_entropy: target class 11 at position 2 is out of range 1..3");
  CHECK(em_loss_nll(x, f, NULL) == NULL);
  CHECK_STR_CONTAINS(em_error(), "nll: target 1.5 at position 1 is not an integer class label");
  CHECK(em_loss_cross_entropy(x, a, NULL) == NULL);
  CHECK_STR_CONTAINS(em_error(), "cross_entropy: input [2 x 3] needs a target of class labels shaped [2]");
  em_class_opts o = EM_CLASS_OPTS_DEFAULT;
  o.weight = f;   /* 2 weights for 3 classes */
  CHECK(em_loss_cross_entropy(x, t, &o) == NULL);
  CHECK_STR_CONTAINS(em_error(), "cross_entropy: weight must be a 1-d tensor of 3 class weights (got [2])");
  o = (em_class_opts)EM_CLASS_OPTS_DEFAULT;
  o.label_smoothing = 0.1f;
  CHECK(em_loss_nll(x, t, &o) == NULL);
  CHECK_STR_CONTAINS(em_error(), "nll: label_smoothing is an option of cross_entropy");

  const float pv[] = {0.5f, -0.1f};
  em_tensor *p = vec(2, pv);
  CHECK(em_loss_bce(p, f, NULL, EM_REDUCE_MEAN) == NULL);
  CHECK_STR_CONTAINS(em_error(), "bce: input must hold probabilities in [0, 1] (got -0.1 at position 2)");
  f->requires_grad = 1;
  CHECK(em_loss_kl_div(p, f, EM_REDUCE_MEAN, 0) == NULL);
  CHECK_STR_CONTAINS(em_error(), "kl_div: the target requires grad");
  em_tensor_release(p); em_tensor_release(f); em_tensor_release(t); em_tensor_release(x);
  em_tensor_release(a); em_tensor_release(b);
}

static void test_nan_and_empty(void) {
  const float nv[] = {NAN, 1, 0, 0};
  em_tensor *x = mat(2, 2, nv);
  const float lab[] = {1, 2};
  em_tensor *t = vec(2, lab);
  em_tensor *l = em_loss_cross_entropy(x, t, NULL);
  CHECK(l && isnan(item(l)));
  em_tensor_release(l);
  /* every label ignored: 0 / 0 = NaN (PyTorch), no crash */
  const float ign[] = {-100, -100};
  em_tensor *ti = vec(2, ign);
  l = em_loss_cross_entropy(x, ti, NULL);
  CHECK(l && isnan(item(l)));
  em_tensor_release(l);
  em_tensor_release(ti);
  em_tensor_release(t);
  em_tensor_release(x);
}

int main(void) {
  test_regression();
  test_rmse_zero_error();
  test_cross_entropy_values();
  test_strided_input();
  test_cross_entropy_stability();
  test_cross_entropy_accuracy();
  test_class_gradients();
  test_binary();
  test_errors();
  test_nan_and_empty();
  return CHECK_DONE();
}
