/* loss.c - loss kernels and their backward passes: a pointwise engine (one pass over input and target,
   the reduction fused in) for mse, rmse, mae, huber, smooth_l1, bce, bce_with_logits and kl_div, and the
   class losses nll and cross_entropy over (N, C, inner) with the log-softmax fused into the loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "loss.h"
#include "autograd.h"

/* The kernels select between the sides of a piecewise loss (huber, smooth_l1) with a comparison. Under
   the default -ftrapping-math GCC keeps such a select as a branch (a vector compare could raise FE_INVALID
   on NaN lanes), which stops vectorisation. ember never reads the FP exception flags, so drop that rule
   here; results are the same IEEE values. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

const char *const em_reduction_names[EM_REDUCE_COUNT] = {"mean", "sum", "none", "batchmean"};
_Static_assert(EM_REDUCE_COUNT == 4, "update em_reduction_names");

/* ---- shared checks ---- */

static int check_reduction(const char *fn, em_reduction red, int batchmean_ok) {
  if ((int)red < 0 || red >= EM_REDUCE_COUNT) return em_fail("%s: unknown reduction %d", fn, (int)red);
  if (red == EM_REDUCE_BATCHMEAN && !batchmean_ok)
    return em_fail("%s: reduction \"batchmean\" is only for kl_div (use \"mean\", \"sum\" or \"none\")", fn);
  return 0;
}

static int check_same_shape(const char *fn, em_tensor *input, em_tensor *target) {
  if (em_same_shape(input, target)) return 0;
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
  return em_fail_kind(EM_ESHAPE, "%s: input %s and target %s have different shapes", fn,
                 em_tensor_shape_str(a, sizeof a, input), em_tensor_shape_str(b, sizeof b, target));
}

/* targets of bce, bce_with_logits, kl_div and probability cross_entropy are data: we refuse to drop a
   gradient silently */
static int check_target_constant(const char *fn, em_tensor *target) {
  if (em_grad_enabled() && target->requires_grad)
    return em_fail("%s: the target requires grad, but this loss passes no gradient to its target "
                   "(use target:detach())", fn);
  return 0;
}

/* w broadcast (NumPy rules, w's dims aligned to the right) to like's shape, as a contiguous tensor */
static em_tensor *expand_to(const char *fn, const char *what, em_tensor *w, em_tensor *like) {
  int ok = w->ndim <= like->ndim;
  for (int i = 0; ok && i < w->ndim; i++) {
    int64_t ws = w->shape[w->ndim - 1 - i], ls = like->shape[like->ndim - 1 - i];
    ok = ws == ls || ws == 1;
  }
  if (!ok) {
    char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
    em_fail_kind(EM_ESHAPE, "%s: %s %s is not broadcastable to input %s", fn, what, em_tensor_shape_str(a, sizeof a, w),
            em_tensor_shape_str(b, sizeof b, like));
    return NULL;
  }
  if (em_same_shape(w, like)) return em_tensor_contiguous(w);
  em_tensor *v = em_tensor_expand_raw(w, like->ndim, like->shape);
  if (!v) return NULL;
  em_tensor *c = em_tensor_clone(v);
  em_tensor_release(v);
  return c;
}

/* ---- pointwise losses ---- */

typedef enum { PW_MSE, PW_RMSE, PW_MAE, PW_HUBER, PW_SMOOTH_L1, PW_BCE, PW_BCE_LOGITS, PW_KL, PW_KL_LOG } pw_kind;
static const char *const pw_names[] = {"mse", "rmse", "mae", "huber", "smooth_l1", "bce", "bce_with_logits",
                                       "kl_div", "kl_div"};

/* https://pytorch.org/docs/stable/generated/torch.nn.HuberLoss.html:
   l = 0.5 d^2 if |d| < delta, else delta (|d| - 0.5 delta). Both sides are computed and one is selected:
   a branch on random data mispredicts half the time (huber ran 16x slower than mse with one). */
static inline float huber_f(float d, float delta) {
  float a = fabsf(d), q = 0.5f * d * d, l = delta * (a - 0.5f * delta);
  return a < delta ? q : l;
}
static inline float huber_g(float d, float delta) {
  float lo = d < -delta ? -delta : d;
  return lo > delta ? delta : lo;
}

/* https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html:
   l = 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta (beta > 0; beta = 0 is the L1 loss, handled by
   the caller) */
static inline float smooth_l1_f(float d, float beta) {
  float a = fabsf(d), q = 0.5f * d * d / beta, l = a - 0.5f * beta;
  return a < beta ? q : l;
}
static inline float smooth_l1_g(float d, float beta) {
  float g = d / beta, lo = g < -1.0f ? -1.0f : g;
  return lo > 1.0f ? 1.0f : lo;
}

static inline float sign_f(float d) { return (float)((d > 0.0f) - (d < 0.0f)); }

/* https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html:
   l = -w (y log p + (1 - y) log(1 - p)), each log clamped to >= -100 so p = 0 or 1 stays finite.
   The comparison (not fmaxf) lets a NaN through, so divergence shows. */
static inline float clamp_log(float v) { return v < -100.0f ? -100.0f : v; }
static inline float bce_f(float p, float y) {
  return (y - 1.0f) * clamp_log(log1pf(-p)) - y * clamp_log(logf(p));
}
/* PyTorch's backward: (p - y) / max(p (1 - p), 1e-12) */
static inline float bce_g(float p, float y) {
  float den = (1.0f - p) * p;
  return (p - y) / (den < 1e-12f ? 1e-12f : den);
}

/* https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html:
   l = -w (pw y log s(x) + (1 - y) log(1 - s(x))) = w ((1 - y) x + (1 + (pw - 1) y) softplus(-x)),
   softplus(-x) = max(-x, 0) + log1p(exp(-|x|)): no exp of a positive number, finite at x = +-100. */
static inline float softplus_neg(float x) { return fmaxf(-x, 0.0f) + log1pf(expf(-fabsf(x))); }
static inline float sigmoid_neg(float x) {   /* s(-x) = 1 - s(x), without cancellation */
  if (x >= 0.0f) { float e = expf(-x); return e / (1.0f + e); }
  return 1.0f / (1.0f + expf(x));
}
static inline float bcel_f(float x, float y, float pw) {
  return (1.0f - y) * x + (1.0f + (pw - 1.0f) * y) * softplus_neg(x);
}
/* d/dx = (1 - y) - (1 + (pw - 1) y) s(-x); with pw = 1 this is s(x) - y */
static inline float bcel_g(float x, float y, float pw) {
  return (1.0f - y) - (1.0f + (pw - 1.0f) * y) * sigmoid_neg(x);
}

/* https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html:
   l = y (log y - x), with 0 log 0 = 0 (xlogy); log_target: l = exp(y) (y - x) */
static inline float kl_f(float x, float y) { return (y == 0.0f ? 0.0f : y * logf(y)) - y * x; }
static inline float kl_log_f(float x, float y) { return expf(y) * (y - x); }

typedef struct {
  pw_kind kind;
  float p;                  /* delta, beta or eps */
  const float *w, *pw;      /* weight and pos_weight expanded to the input's shape, or NULL */
} pw_ctx;

/* one loss per element into out */
static void pw_forward(const pw_ctx *c, float *out, const float *xs, const float *ys, int64_t n) {
  const float p = c->p, *w = c->w, *pw = c->pw;
#define PW_FWD(EXPR) do { for (int64_t i = 0; i < n; i++) { float x = xs[i], y = ys[i]; out[i] = (EXPR); } } while (0)
  switch (c->kind) {
  case PW_MSE: PW_FWD((x - y) * (x - y)); break;   /* https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html */
  case PW_RMSE: PW_FWD((x - y) * (x - y)); break;  /* the square root comes after the reduction (or per element) */
  case PW_MAE: PW_FWD(fabsf(x - y)); break;        /* https://pytorch.org/docs/stable/generated/torch.nn.L1Loss.html */
  case PW_HUBER: PW_FWD(huber_f(x - y, p)); break;
  case PW_SMOOTH_L1:
    if (p > 0.0f) PW_FWD(smooth_l1_f(x - y, p));
    else PW_FWD(fabsf(x - y));
    break;
  case PW_BCE:
    if (w) PW_FWD(w[i] * bce_f(x, y));
    else PW_FWD(bce_f(x, y));
    break;
  case PW_BCE_LOGITS:
    if (w && pw) PW_FWD(w[i] * bcel_f(x, y, pw[i]));
    else if (w) PW_FWD(w[i] * bcel_f(x, y, 1.0f));
    else if (pw) PW_FWD(bcel_f(x, y, pw[i]));
    else PW_FWD(bcel_f(x, y, 1.0f));
    break;
  case PW_KL: PW_FWD(kl_f(x, y)); break;
  case PW_KL_LOG: PW_FWD(kl_log_f(x, y)); break;
  }
#undef PW_FWD
}

/* The sum of the losses without storing them: blocks small enough for the L1 cache are computed by the
   (vectorisable, branch-free) pw_forward, then added in double with four independent accumulators. */
static double pw_forward_sum(const pw_ctx *c, const float *xs, const float *ys, int64_t n) {
  enum { BLOCK = 1024 };
  float buf[BLOCK];
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  pw_ctx cb = *c;
  for (int64_t s = 0; s < n; s += BLOCK) {
    int64_t m = n - s < BLOCK ? n - s : BLOCK, i = 0;
    cb.w = c->w ? c->w + s : NULL;
    cb.pw = c->pw ? c->pw + s : NULL;
    pw_forward(&cb, buf, xs + s, ys + s, m);
    for (; i + 4 <= m; i += 4) { a0 += buf[i]; a1 += buf[i + 1]; a2 += buf[i + 2]; a3 += buf[i + 3]; }
    for (; i < m; i++) a0 += buf[i];
  }
  return (a0 + a1) + (a2 + a3);
}

/* dx[i] = g[i * gs] * scale * dl/dx(x[i], y[i]); gs = 0 when the loss was reduced to a scalar */
static void pw_backward_kernel(const pw_ctx *c, float *dx, const float *g, int64_t gs, float scale,
                               const float *xs, const float *ys, int64_t n) {
  const float p = c->p, *w = c->w, *pw = c->pw;
  const float g0 = g[0] * scale;
#define PW_BWD(EXPR) do { \
    if (gs) for (int64_t i = 0; i < n; i++) { float x = xs[i], y = ys[i]; (void)x; dx[i] = g[i] * scale * (EXPR); } \
    else for (int64_t i = 0; i < n; i++) { float x = xs[i], y = ys[i]; (void)x; dx[i] = g0 * (EXPR); } \
  } while (0)
  switch (c->kind) {
  case PW_MSE: PW_BWD(2.0f * (x - y)); break;
  case PW_RMSE:
    if (gs) PW_BWD((x - y) / sqrtf((x - y) * (x - y) + p));
    else PW_BWD(x - y);   /* scale already holds 1 / (n * rmse) or 1 / rmse */
    break;
  case PW_MAE: PW_BWD(sign_f(x - y)); break;
  case PW_HUBER: PW_BWD(huber_g(x - y, p)); break;
  case PW_SMOOTH_L1:
    if (p > 0.0f) PW_BWD(smooth_l1_g(x - y, p));
    else PW_BWD(sign_f(x - y));   /* beta = 0, d = 0: the L1 subgradient 0, as PyTorch */
    break;
  case PW_BCE:
    if (w) PW_BWD(w[i] * bce_g(x, y));
    else PW_BWD(bce_g(x, y));
    break;
  case PW_BCE_LOGITS:
    if (w && pw) PW_BWD(w[i] * bcel_g(x, y, pw[i]));
    else if (w) PW_BWD(w[i] * bcel_g(x, y, 1.0f));
    else if (pw) PW_BWD(bcel_g(x, y, pw[i]));
    else PW_BWD(bcel_g(x, y, 1.0f));
    break;
  case PW_KL: PW_BWD(-y); break;
  case PW_KL_LOG: PW_BWD(-expf(y)); break;
  }
#undef PW_BWD
}

/* saved: 0 input, 1 target, 2 weight, 3 pos_weight (contiguous) */
typedef struct {
  pw_kind kind;
  em_reduction reduction;
  float p;        /* the loss's parameter (huber delta, smooth_l1 beta, rmse eps) */
  float scale;    /* of the gradient: 1 / n for mean, 1 / rmse for rmse, ... */
} pw_state;

static int pw_backward(em_node *n, em_tensor *g) {
  const pw_state *st = em_node_state(n);
  pw_ctx c = {st->kind, st->p, NULL, NULL};
  if (n->saved[2]) c.w = em_data(n->saved[2]);
  if (n->saved[3]) c.pw = em_data(n->saved[3]);
  em_tensor *x = n->saved[0], *y = n->saved[1];
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *dx = em_tensor_new(x->ndim, x->shape);
  int rc = -1;
  if (!dx) goto out;
  int64_t m = em_numel(x);
  pw_backward_kernel(&c, em_data(dx), em_data(gc), st->reduction == EM_REDUCE_NONE, st->scale, em_data(x),
                     em_data(y), m);
  if (em_node_accum(n, 0, dx)) goto out;
  if (n->ninputs > 1 && n->inputs[1]->requires_grad) {   /* regression losses: d/dy = -d/dx */
    float *d = em_data(dx);
    for (int64_t i = 0; i < m; i++) d[i] = -d[i];
    if (em_node_accum(n, 1, dx)) goto out;
  }
  rc = 0;
out:
  em_tensor_release(dx);
  em_tensor_release(gc);
  return rc;
}

static em_tensor *pointwise(pw_kind kind, em_tensor *input, em_tensor *target, em_tensor *weight,
                            em_tensor *pos_weight, em_reduction red, float p) {
  const char *fn = pw_names[kind];
  int target_grad = kind <= PW_SMOOTH_L1;
  if (check_reduction(fn, red, kind == PW_KL || kind == PW_KL_LOG) || check_same_shape(fn, input, target))
    return NULL;
  if (!target_grad && check_target_constant(fn, target)) return NULL;
  em_tensor *xc = NULL, *yc = NULL, *wc = NULL, *pwc = NULL, *out = NULL;
  if (!(xc = em_tensor_contiguous(input)) || !(yc = em_tensor_contiguous(target))) goto fail;
  if (weight && !(wc = expand_to(fn, "weight", weight, input))) goto fail;
  if (pos_weight && !(pwc = expand_to(fn, "pos_weight", pos_weight, input))) goto fail;
  int64_t m = em_numel(input);
  if (kind == PW_BCE) {   /* PyTorch refuses probabilities outside [0, 1]; NaN passes (divergence shows) */
    const float *x = em_data(xc);
    for (int64_t i = 0; i < m; i++)
      if (x[i] < 0.0f || x[i] > 1.0f) {
        em_fail("bce: input must hold probabilities in [0, 1] (got %g at position %lld); "
                "for logits use bce_with_logits", (double)x[i], (long long)i + 1);
        goto fail;
      }
  }
  pw_ctx c = {kind, p, wc ? em_data(wc) : NULL, pwc ? em_data(pwc) : NULL};
  double scale = 1.0;
  if (red == EM_REDUCE_NONE) {
    if (!(out = em_tensor_new(input->ndim, input->shape))) goto fail;
    float *o = em_data(out);
    pw_forward(&c, o, em_data(xc), em_data(yc), m);
    if (kind == PW_RMSE) for (int64_t i = 0; i < m; i++) o[i] = sqrtf(o[i] + p);   /* sqrt(d^2 + eps) */
  } else {
    double acc = pw_forward_sum(&c, em_data(xc), em_data(yc), m);
    if (red == EM_REDUCE_MEAN) scale = 1.0 / (double)m;   /* m = 0: NaN, as PyTorch */
    else if (red == EM_REDUCE_BATCHMEAN) scale = 1.0 / (double)(input->ndim ? input->shape[0] : 1);
    double v = acc * scale;
    if (kind == PW_RMSE) v = sqrt(v + p);
    if (!(out = em_tensor_scalar((float)v))) goto fail;
    /* rmse backward: d sqrt(s * scale + eps) / dx_i = scale * 2 d_i / (2 rmse) */
    if (kind == PW_RMSE) scale /= v;
  }
  em_tensor *ins[2] = {input, target};
  pw_state st = {kind, red, p, (float)scale};
  em_node *nd;
  if (em_node_attach(&nd, out, fn, pw_backward, target_grad ? 2 : 1, ins, &st, sizeof st) ||
      (nd && (em_node_save(nd, 0, xc) || em_node_save(nd, 1, yc) || em_node_save(nd, 2, wc) ||
              em_node_save(nd, 3, pwc))))
    goto fail;
  em_tensor_release(xc); em_tensor_release(yc); em_tensor_release(wc); em_tensor_release(pwc);
  return out;
fail:
  em_tensor_release(xc); em_tensor_release(yc); em_tensor_release(wc); em_tensor_release(pwc);
  em_tensor_release(out);
  return NULL;
}

em_tensor *em_loss_mse(em_tensor *input, em_tensor *target, em_reduction red) {
  return pointwise(PW_MSE, input, target, NULL, NULL, red, 0.0f);
}

/* sqrt(mse + eps): RMSE as a training loss needs eps for a finite gradient where the error is zero
   (d sqrt(s)/ds is infinite at s = 0); with eps the gradient there is 0 / sqrt(eps) = 0. */
em_tensor *em_loss_rmse(em_tensor *input, em_tensor *target, em_reduction red, float eps) {
  if (!(eps >= 0.0f)) { em_fail("rmse: eps must be >= 0 (got %g)", (double)eps); return NULL; }
  return pointwise(PW_RMSE, input, target, NULL, NULL, red, eps);
}

em_tensor *em_loss_mae(em_tensor *input, em_tensor *target, em_reduction red) {
  return pointwise(PW_MAE, input, target, NULL, NULL, red, 0.0f);
}

em_tensor *em_loss_huber(em_tensor *input, em_tensor *target, em_reduction red, float delta) {
  if (!(delta > 0.0f)) { em_fail("huber: delta must be > 0 (got %g)", (double)delta); return NULL; }
  return pointwise(PW_HUBER, input, target, NULL, NULL, red, delta);
}

em_tensor *em_loss_smooth_l1(em_tensor *input, em_tensor *target, em_reduction red, float beta) {
  if (!(beta >= 0.0f)) { em_fail("smooth_l1: beta must be >= 0 (got %g)", (double)beta); return NULL; }
  return pointwise(PW_SMOOTH_L1, input, target, NULL, NULL, red, beta);
}

em_tensor *em_loss_bce(em_tensor *input, em_tensor *target, em_tensor *weight, em_reduction red) {
  return pointwise(PW_BCE, input, target, weight, NULL, red, 0.0f);
}

em_tensor *em_loss_bce_with_logits(em_tensor *input, em_tensor *target, em_tensor *weight,
                                   em_tensor *pos_weight, em_reduction red) {
  return pointwise(PW_BCE_LOGITS, input, target, weight, pos_weight, red, 0.0f);
}

em_tensor *em_loss_kl_div(em_tensor *input, em_tensor *target, em_reduction red, int log_target) {
  return pointwise(log_target ? PW_KL_LOG : PW_KL, input, target, NULL, NULL, red, 0.0f);
}

/* ---- class losses: input viewed as (N, C, inner), one "row" of C logits per (n, inner) ---- */

typedef struct {
  int64_t n, c, inner, rows;
  int probs;                         /* target holds class probabilities shaped like input */
  int out_ndim;                      /* shape of the "none" reduction */
  int64_t out_shape[EM_MAX_DIMS];
} cls_dims;

static int class_dims(const char *fn, em_tensor *input, em_tensor *target, int probs_ok, cls_dims *d) {
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF], c[EM_SHAPE_BUF];
  if (input->ndim == 0) return em_fail_kind(EM_ESHAPE, "%s: input must have a class dimension (got a 0-d tensor)", fn);
  int nd = input->ndim;
  d->n = nd == 1 ? 1 : input->shape[0];
  d->c = nd == 1 ? input->shape[0] : input->shape[1];
  d->inner = 1;
  for (int i = 2; i < nd; i++) d->inner *= input->shape[i];
  d->rows = d->n * d->inner;
  /* the "none" shape: input without its class dimension, which is also the shape of label targets */
  d->out_ndim = nd - 1;
  for (int i = 0, j = 0; i < nd; i++) if (i != (nd == 1 ? 0 : 1)) d->out_shape[j++] = input->shape[i];
  if (d->c == 0) return em_fail_kind(EM_ESHAPE, "%s: input %s has no classes", fn, em_tensor_shape_str(a, sizeof a, input));
  if (d->c > INT32_MAX)   /* labels are kept as int32 */
    return em_fail("%s: input %s has more than 2^31 - 1 classes", fn, em_tensor_shape_str(a, sizeof a, input));
  d->probs = probs_ok && em_same_shape(input, target);
  if (d->probs) return 0;
  int ok = target->ndim == d->out_ndim;
  for (int i = 0; ok && i < d->out_ndim; i++) ok = target->shape[i] == d->out_shape[i];
  if (ok) return 0;
  em_shape_str(c, sizeof c, d->out_ndim, d->out_shape);
  em_tensor_shape_str(a, sizeof a, input);
  em_tensor_shape_str(b, sizeof b, target);
  if (probs_ok)
    return em_fail_kind(EM_ESHAPE, "%s: input %s needs a target of class labels shaped %s or of class probabilities shaped %s "
                   "(got target %s)", fn, a, c, a, b);
  return em_fail_kind(EM_ESHAPE, "%s: input %s needs a target of class labels shaped %s (got target %s)", fn, a, c, b);
}

/* 0-based labels from the 1-based float targets; -1 marks an ignored row */
static int class_labels(const char *fn, const float *t, int64_t rows, int64_t c, int64_t ignore, int32_t *lab) {
  for (int64_t r = 0; r < rows; r++) {
    float v = t[r];
    if (v != v || v != floorf(v) || isinf(v))
      return em_fail("%s: target %g at position %lld is not an integer class label", fn, (double)v,
                     (long long)r + 1);
    if ((double)v == (double)ignore) { lab[r] = -1; continue; }
    if (v < 1.0f || v > (float)c)
      return em_fail("%s: target class %.0f at position %lld is out of range 1..%lld%s", fn, (double)v,
                     (long long)r + 1, (long long)c, v == 0.0f ? " (class labels are 1-based)" : "");
    lab[r] = (int32_t)v - 1;
  }
  return 0;
}

static int class_weight(const char *fn, em_tensor *w, int64_t c, em_tensor **wc) {
  *wc = NULL;
  if (!w) return 0;
  if (w->ndim != 1 || w->shape[0] != c) {
    char a[EM_SHAPE_BUF];
    return em_fail_kind(EM_ESHAPE, "%s: weight must be a 1-d tensor of %lld class weights (got %s)", fn, (long long)c,
                   em_tensor_shape_str(a, sizeof a, w));
  }
  *wc = em_tensor_contiguous(w);
  return *wc ? 0 : -1;
}

/* the node's extra buffer, per row: the maximum m and log sum exp(x - m) (cross_entropy), then the label.
   m and the log are kept apart because log p_c = (x_c - m) - log s is exact where x_c is near m, while
   x_c - (m + log s) loses the log's digits to m's rounding when the logits are large (1e4 + ln 2). */
typedef struct { float *m, *ls; int32_t *lab; } cls_buf;
static void *cls_alloc(int64_t rows, cls_buf *b) {
  size_t n = (size_t)(rows > 0 ? rows : 1);
  char *p = malloc(n * (2 * sizeof(float) + sizeof(int32_t)));
  if (!p) return NULL;
  b->m = (float *)p;
  b->ls = (float *)p + n;
  b->lab = (int32_t *)(p + 2 * n * sizeof(float));
  return p;
}

/* exp(x) for x <= 0 (NaN -> NaN, below ln(FLT_MIN) -> 0), branch-free so the softmax loops vectorise
   (libm's expf is a call per element). Cody-Waite reduction x = n ln 2 + r, then Cephes' degree-6
   minimax polynomial for exp(r) (S. Moshier, Cephes Math Library, expf.c): within 1.4 ulp of exp over
   [ln(FLT_MIN), 0], measured against double exp at every float in that range. */
static inline float exp_le0(float x) {
  const float lo = -87.3365448f;                      /* ln(FLT_MIN) */
  float xc = x < lo ? lo : x;                         /* NaN passes: NaN < lo is false */
  float t = xc * 1.44269504088896341f + 12582912.0f;  /* + 1.5 * 2^23 rounds x log2(e) to an integer n */
  float n = t - 12582912.0f;
  float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t ti, e;                                     /* unsigned: NaN's bits wrap instead of overflowing */
  float sc;
  memcpy(&ti, &t, sizeof ti);
  e = (ti - 0x4b400000u + 127u) << 23;                /* 2^n from n's bits in t */
  memcpy(&sc, &e, sizeof sc);
  return x < lo ? 0.0f : p * sc;
}

/* max and log sum exp(x - max) of a row of C values at stride st. A NaN does not win the max, but it
   makes the sum NaN, so the loss is NaN as PyTorch's. Eight partial sums let the loop vectorise. */
static inline void row_logsumexp(const float *x, int64_t C, int64_t st, float *m_out, float *ls_out) {
  float m = -INFINITY, acc[8] = {0}, s = 0.0f;
  for (int64_t k = 0; k < C; k++) { float v = x[k * st]; m = v > m ? v : m; }
  int64_t k = 0;
  for (; k + 8 <= C; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += exp_le0(x[(k + j) * st] - m);
  for (; k < C; k++) s += exp_le0(x[k * st] - m);
  s += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  *m_out = m;
  *ls_out = logf(s);
}

/* class weights: w_c, or 1 when there are none */
#define CW(w, k) ((w) ? (w)[k] : 1.0f)

/* the gradient of one row: p_k = exp((x_k - m) - ls) (the softmax, from the forward's statistics), then
   labels:        dx_k = a (p_k - [k = y]) + b (p_k W - w_k), a = g (1 - eps) w_y, b = g eps / C, W = sum w
   probabilities: dx_k = g (p_k S - w_k t'_k), S = sum_c w_c t'_c, t' = (1 - eps) t + eps / C
   (the fused softmax-minus-onehot backward, as llm.c's crossentropy_softmax_backward) */
static inline void ce_row_backward(float *dr, const float *xr, const float *tr, const float *w, int64_t C,
                                   int64_t st, float m, float ls, int32_t y, float g, float eps, float W) {
  const float u = eps / (float)C;
  if (tr) {
    double S = 0;
    for (int64_t k = 0; k < C; k++) S += CW(w, k) * ((1.0f - eps) * tr[k * st] + u);
    float Sf = (float)S;
    for (int64_t k = 0; k < C; k++)
      dr[k * st] = g * (exp_le0((xr[k * st] - m) - ls) * Sf - CW(w, k) * ((1.0f - eps) * tr[k * st] + u));
    return;
  }
  if (y < 0) { for (int64_t k = 0; k < C; k++) dr[k * st] = 0.0f; return; }   /* ignored row */
  float a = g * (1.0f - eps) * CW(w, y), b = g * u;
  if (eps == 0.0f) for (int64_t k = 0; k < C; k++) dr[k * st] = a * exp_le0((xr[k * st] - m) - ls);
  else if (!w)
    for (int64_t k = 0; k < C; k++) {
      float p = exp_le0((xr[k * st] - m) - ls);
      dr[k * st] = a * p + b * (p * W - 1.0f);
    }
  else
    for (int64_t k = 0; k < C; k++) {
      float p = exp_le0((xr[k * st] - m) - ls);
      dr[k * st] = a * p + b * (p * W - w[k]);
    }
  dr[y * st] -= a;
}

/* saved: 0 input (contiguous), 1 probability target, 2 weight; extra: cls_buf (cross_entropy) or the
   labels (nll) */
typedef struct {
  int64_t n, c, inner;   /* the input viewed as (n, c, inner) */
  int probs;             /* the target holds class probabilities, not labels */
  int none;              /* reduction "none": one gradient per row, not one scalar */
  float scale;           /* 1 / D for mean */
  float eps;             /* label smoothing */
} class_state;

static int ce_backward(em_node *n, em_tensor *g) {
  const class_state *st = em_node_state(n);
  const int64_t N = st->n, C = st->c, inner = st->inner, probs = st->probs, rows = N * inner;
  const float scale = st->scale, eps = st->eps;
  em_tensor *x = n->saved[0];
  const float *w = n->saved[2] ? em_data(n->saved[2]) : NULL;
  const float *t = probs ? em_data(n->saved[1]) : NULL;
  char *ex = n->extra;
  size_t nr = (size_t)(rows > 0 ? rows : 1);
  const float *mx = (const float *)ex, *lsum = (const float *)ex + nr;
  const int32_t *lab = (const int32_t *)(ex + 2 * nr * sizeof(float));
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *dx = em_tensor_new(x->ndim, x->shape);
  if (!dx) { em_tensor_release(gc); return -1; }
  const float *xs = em_data(x), *gp = em_data(gc);
  const int64_t gs = st->none;
  float *d = em_data(dx);
  double W = 0;
  for (int64_t k = 0; k < C; k++) W += CW(w, k);
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = (r / inner) * C * inner + r % inner;
    const float *tr = t ? t + base : NULL;
    int32_t y = probs ? 0 : lab[r];
    float gr = gp[r * gs] * scale;
    if (inner == 1) ce_row_backward(d + base, xs + base, tr, w, C, 1, mx[r], lsum[r], y, gr, eps, (float)W);
    else ce_row_backward(d + base, xs + base, tr, w, C, inner, mx[r], lsum[r], y, gr, eps, (float)W);
  }
  int rc = em_node_accum(n, 0, dx);
  em_tensor_release(dx);
  em_tensor_release(gc);
  return rc;
}

/* nll backward: only the target entry of each row has a gradient, -g w_y scale */
static int nll_backward(em_node *n, em_tensor *g) {
  const class_state *st = em_node_state(n);
  const int64_t C = st->c, inner = st->inner, rows = st->n * inner;
  const float scale = st->scale;
  em_tensor *x = n->saved[0];
  const float *w = n->saved[2] ? em_data(n->saved[2]) : NULL;
  const int32_t *lab = n->extra;
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *dx = em_tensor_zeros(x->ndim, x->shape);
  if (!dx) { em_tensor_release(gc); return -1; }
  const float *gp = em_data(gc);
  const int64_t gs = st->none;
  float *d = em_data(dx);
  for (int64_t r = 0; r < rows; r++) {
    int32_t y = lab[r];
    if (y >= 0) d[(r / inner) * C * inner + (int64_t)y * inner + r % inner] = -gp[r * gs] * scale * CW(w, y);
  }
  int rc = em_node_accum(n, 0, dx);
  em_tensor_release(dx);
  em_tensor_release(gc);
  return rc;
}

/* https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html (log_softmax inside) and
   https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html (input already log-probabilities).
   Labels: l_n = (1 - eps) w_y (lse - x_y) + (eps / C) sum_c w_c (lse - x_c); mean divides the sum by the
   sum of w_y over the rows not ignored (PyTorch's weighted mean, label smoothing included).
   Probabilities: l_n = sum_c w_c t'_c (lse - x_c), t' = (1 - eps) t + eps / C; mean divides by N * d. */
static em_tensor *class_loss(const char *fn, int fused, em_tensor *input, em_tensor *target, const em_class_opts *o) {
  em_class_opts def = EM_CLASS_OPTS_DEFAULT;
  if (!o) o = &def;
  cls_dims dm;
  float eps = o->label_smoothing;
  if (check_reduction(fn, o->reduction, 0) || class_dims(fn, input, target, fused, &dm)) return NULL;
  if (!fused && eps != 0.0f) { em_fail("%s: label_smoothing is an option of cross_entropy", fn); return NULL; }
  if (!(eps >= 0.0f && eps <= 1.0f)) {
    em_fail("%s: label_smoothing must be in [0, 1] (got %g)", fn, (double)eps);
    return NULL;
  }
  if (dm.probs) {
    if (o->ignore_index != EM_IGNORE_INDEX) {
      em_fail("%s: ignore_index needs a target of class labels (this target holds class probabilities)", fn);
      return NULL;
    }
    if (check_target_constant(fn, target)) return NULL;
  }
  em_tensor *xc = NULL, *tc = NULL, *wc = NULL, *out = NULL;
  cls_buf b;
  void *buf = cls_alloc(dm.rows, &b);
  if (!buf) { em_fail_kind(EM_ENOMEM, "%s: out of memory", fn); return NULL; }
  if (class_weight(fn, o->weight, dm.c, &wc)) goto fail;
  if (!(xc = em_tensor_contiguous(input)) || !(tc = em_tensor_contiguous(target))) goto fail;
  if (!dm.probs && class_labels(fn, em_data(tc), dm.rows, dm.c, o->ignore_index, b.lab)) goto fail;
  int none = o->reduction == EM_REDUCE_NONE;
  if (!(out = none ? em_tensor_new(dm.out_ndim, dm.out_shape) : em_tensor_scalar(0.0f))) goto fail;
  const float *xs = em_data(xc), *ts = em_data(tc), *w = wc ? em_data(wc) : NULL;
  float *os = em_data(out);
  const int64_t C = dm.c, inner = dm.inner;
  const float u = eps / (float)C;
  double acc = 0, den = 0;
  for (int64_t r = 0; r < dm.rows; r++) {
    int64_t base = (r / inner) * C * inner + r % inner;
    const float *xr = xs + base;
    float m = 0.0f;   /* nll: -log p_c = -x_c, so m = ls = 0 */
    double ls = 0, loss = 0;
    if (fused) {   /* log-sum-exp with the row maximum subtracted: logits of 1e4 do not overflow */
      float lsf;
      if (inner == 1) row_logsumexp(xr, C, 1, &m, &lsf);   /* the common case, with a constant stride */
      else row_logsumexp(xr, C, inner, &m, &lsf);
      ls = lsf;
      b.m[r] = m;
      b.ls[r] = lsf;
    }
#define NLP(k) ((double)(m - xr[(k) * inner]) + ls)   /* -log p_k */
    if (dm.probs) {
      const float *tr = ts + base;
      for (int64_t k = 0; k < C; k++) loss += (double)(CW(w, k) * ((1.0f - eps) * tr[k * inner] + u)) * NLP(k);
      den += 1;
    } else {
      int32_t y = b.lab[r];
      if (y >= 0) {
        float wy = CW(w, y);
        loss = (double)wy * NLP(y);
        if (eps != 0.0f) {
          double sm = 0;
          for (int64_t k = 0; k < C; k++) sm += (double)CW(w, k) * NLP(k);
          loss = (1.0 - eps) * loss + (double)u * sm;
        }
        den += wy;
      }
    }
#undef NLP
    if (none) os[r] = (float)loss;
    else acc += loss;
  }
  double scale = o->reduction == EM_REDUCE_MEAN ? 1.0 / den : 1.0;   /* den = 0 (all ignored): NaN, as PyTorch */
  if (!none) os[0] = (float)(acc * scale);
  class_state st = {dm.n, dm.c, dm.inner, dm.probs, none, (float)scale, eps};
  em_node *nd;
  if (em_node_attach(&nd, out, fn, fused ? ce_backward : nll_backward, 1, &input, &st, sizeof st) ||
      (nd && (em_node_save(nd, 0, xc) || (dm.probs && em_node_save(nd, 1, tc)) || em_node_save(nd, 2, wc))))
    goto fail;
  if (nd) {
    if (fused) nd->extra = buf;
    else {   /* nll keeps only the labels */
      memmove(buf, b.lab, (size_t)(dm.rows > 0 ? dm.rows : 1) * sizeof(int32_t));
      nd->extra = buf;
    }
    buf = NULL;
  }
  free(buf);
  em_tensor_release(xc); em_tensor_release(tc); em_tensor_release(wc);
  return out;
fail:
  free(buf);
  em_tensor_release(xc); em_tensor_release(tc); em_tensor_release(wc); em_tensor_release(out);
  return NULL;
}

em_tensor *em_loss_nll(em_tensor *input, em_tensor *target, const em_class_opts *opts) {
  return class_loss("nll", 0, input, target, opts);
}

em_tensor *em_loss_cross_entropy(em_tensor *input, em_tensor *target, const em_class_opts *opts) {
  return class_loss("cross_entropy", 1, input, target, opts);
}
