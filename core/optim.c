/* optim.c - fused optimizer steps and gradient clipping (see optim.h).

   References, the algorithm boxes of the PyTorch documentation:
     SGD      https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
     Adam     https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
     AdamW    https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
     RMSprop  https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html
     Adagrad  https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html
     clipping https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
   One deliberate reading: `maximize` negates the gradient before weight decay is added, as torch.optim's
   code does (the SGD box applies it at the end, which would make decay grow the weights).
   The L1 step is the proximal operator of lr * l1 * |w| (soft thresholding, ISTA).

   Each kernel is one loop over flat float arrays, outputs first, specialised on its options so that it
   vectorises. A step walks the parameter in L1-sized blocks (update, then the L1 step, per block: one
   pass over memory) and splits large parameters over ember's threads (parallel.h). Arithmetic follows PyTorch's evaluation order in float32
   (x.mul_(a).add_(g, alpha=b) is x*a + b*g; addcmul is x + (v*t1)*t2; addcdiv is x + (v*t1)/t2) with
   the scalars rounded to float, so results match torch.optim's single-tensor path to the last bit or
   two (its vector units may fuse multiply-adds where we do not). */
#include <math.h>
#include <string.h>
#include "optim.h"
#include "parallel.h"

#if defined(__GNUC__)
#define EM_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define EM_ALWAYS_INLINE static inline
#endif

/* ---- argument checks shared by the steps ---- */

static int check_buf(const char *fn, const char *what, const em_tensor *p, const em_tensor *t) {
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
  if (!t) return em_fail("%s: %s is missing", fn, what);
  if (!em_same_shape(p, t))
    return em_fail("%s: %s has shape %s but the parameter has shape %s", fn, what,
                   em_tensor_shape_str(a, sizeof a, t), em_tensor_shape_str(b, sizeof b, p));
  if (!em_is_contiguous(t))
    return em_fail("%s: %s %s is not contiguous", fn, what, em_tensor_shape_str(a, sizeof a, t));
  return 0;
}

static int check_param(const char *fn, const em_tensor *p, const em_tensor *grad) {
  char a[EM_SHAPE_BUF];
  if (!p) return em_fail("%s: parameter is missing", fn);
  if (!em_is_contiguous(p))
    return em_fail("%s: parameter %s is not contiguous (optimizers update parameters in place; "
                   "make it a contiguous tensor)", fn, em_tensor_shape_str(a, sizeof a, p));
  if (!grad) return em_fail("%s: parameter %s has no gradient", fn, em_tensor_shape_str(a, sizeof a, p));
  return check_buf(fn, "gradient", p, grad);
}

/* the tensors of one step must not share memory: the kernels read and write them element by element */
static int overlaps(const em_tensor *a, const em_tensor *b) {
  if (!a || !b || a->storage != b->storage) return 0;
  int64_t a0 = a->offset, a1 = a0 + em_numel(a), b0 = b->offset, b1 = b0 + em_numel(b);
  return a0 < b1 && b0 < a1;
}

static int check_distinct(const char *fn, em_tensor *const *ts, int n) {
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (overlaps(ts[i], ts[j]))
        return em_fail("%s: the parameter, its gradient and its state buffers must not share memory", fn);
  return 0;
}

/* soft threshold: sign(w) * max(|w| - thr, 0), exact +0 when it clips; NaN stays NaN */
static inline float prox_l1(float w, float thr) {
  float a = fabsf(w) - thr;
  return a <= 0.0f ? 0.0f : copysignf(a, w);
}

static void prox_l1_block(float *restrict p, int64_t n, float thr) {
  for (int64_t i = 0; i < n; i++) p[i] = prox_l1(p[i], thr);
}

/* One step's arguments, shared by the chunks of em_parallel_for. Elementwise updates give the same
   bits whatever the thread count, so a resumed run matches an uninterrupted one on any machine. */
typedef struct step_job {
  float *p, *s0, *s1, *s2;          /* parameter and up to three state buffers */
  const float *g;
  const void *cfg;
  int64_t step;
  int first;
  float thr;                        /* lr * l1 of the proximal step; 0: none */
  void (*kernel)(const struct step_job *j, int64_t b, int64_t e);
} step_job;

/* Walks [b, e) in blocks small enough to stay in L1, applying the update and then the L1 step to
   each block, so the L1 step costs no second pass over memory. */
#define EM_OPTIM_BLOCK 2048
static void step_range(void *ctx, int64_t b, int64_t e, int worker) {
  const step_job *j = ctx;
  (void)worker;
  for (int64_t i = b; i < e; i += EM_OPTIM_BLOCK) {
    int64_t k = e - i < EM_OPTIM_BLOCK ? e - i : EM_OPTIM_BLOCK;
    j->kernel(j, i, i + k);
    if (j->thr > 0.0f) prox_l1_block(j->p + i, k, j->thr);
  }
}

/* A step is memory-bound, but each core brings its own share of bandwidth and cache: an MLP's 200,000
   weights updated on one thread were a serial part of every step that more cores could not shrink.
   Parameters of 64k elements and up are split (32k elements per chunk at least); smaller ones run on
   the calling thread and never wake the pool. The update is elementwise, so the split never changes it. */
#define EM_OPTIM_GRAIN (1 << 15)
static void run_step(step_job *j, int64_t n, double lr, double l1) {
  j->thr = l1 != 0.0 ? (float)(lr * l1) : 0.0f;
  em_parallel_for(n, EM_OPTIM_GRAIN, step_range, j);
}

#define OFF(ptr, b) ((ptr) ? (ptr) + (b) : NULL)

/* ---- SGD ---- */

/* p, g, buf are (n,) */
static void sgd_kernel(float *restrict p, float *restrict buf, const float *restrict g, int64_t n,
                       const em_sgd_cfg *c, int first) {
  const float wd = (float)c->weight_decay, mom = (float)c->momentum;
  const float damp = (float)(1.0 - c->dampening), neglr = (float)(-c->lr);
  const int use_wd = c->weight_decay != 0.0, use_mom = c->momentum != 0.0;
  const int nesterov = c->nesterov, maximize = c->maximize;
  for (int64_t i = 0; i < n; i++) {
    float d = maximize ? -g[i] : g[i];
    if (use_wd) d = d + wd * p[i];
    if (use_mom) {
      float b = first ? d : buf[i] * mom + damp * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    p[i] = p[i] + neglr * d;
  }
}

static void sgd_range(const step_job *j, int64_t b, int64_t e) {
  sgd_kernel(j->p + b, OFF(j->s0, b), j->g + b, e - b, j->cfg, j->first);
}

int em_sgd_step(em_tensor *p, const em_tensor *grad, em_tensor *buf, int first, const em_sgd_cfg *c) {
  const char *fn = "optim.sgd";
  if (check_param(fn, p, grad)) return -1;
  int use_mom = c->momentum != 0.0;
  if (use_mom && check_buf(fn, "momentum buffer", p, buf)) return -1;
  em_tensor *ts[3] = {p, (em_tensor *)grad, use_mom ? buf : NULL};
  if (check_distinct(fn, ts, 3)) return -1;
  step_job j = {.p = em_data(p), .s0 = use_mom ? em_data(buf) : NULL, .g = em_data(grad), .cfg = c,
                .first = first, .kernel = sgd_range};
  run_step(&j, em_numel(p), c->lr, c->l1);
  return 0;
}

/* ---- Adam / AdamW ---- */

/* p, g, m, v, vmax are (n,); vmax is used only when ams. wd_mode: 0 none, 1 coupled, 2 decoupled.
   The flags are compile-time constants at every call below, so each combination becomes its own
   branch-free loop that the compiler vectorises (a loop with the tests inside would not be). */
EM_ALWAYS_INLINE void adam_loop(float *restrict p, float *restrict m, float *restrict v,
                                float *restrict vmax, const float *restrict g, int64_t n,
                                const em_adam_cfg *c, int64_t step, const int wd_mode, const int ams) {
  const double bc1 = 1.0 - pow(c->beta1, (double)step), bc2 = 1.0 - pow(c->beta2, (double)step);
  const float neg_step = (float)(-(c->lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
  const float b1 = (float)c->beta1, b2 = (float)c->beta2;
  const float ob1 = (float)(1.0 - c->beta1), ob2 = (float)(1.0 - c->beta2), eps = (float)c->eps;
  const float wd = (float)c->weight_decay, shrink = (float)(1.0 - c->lr * c->weight_decay);
  const float sign = c->maximize ? -1.0f : 1.0f;     /* exact: -g and g * -1 are the same float */
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] * sign;
    float w = p[i];
    if (wd_mode == 2) w = w * shrink;
    if (wd_mode == 1) d = d + wd * w;
    float mi = m[i] * b1 + ob1 * d;
    float vi = v[i] * b2 + ob2 * d * d;
    m[i] = mi;
    v[i] = vi;
    if (ams) {
      float mx = vmax[i];
      mx = vi > mx ? vi : mx;
      vmax[i] = mx;
      vi = mx;
    }
    float den = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = w + neg_step * mi / den;
  }
}

static void adam_kernel(float *restrict p, float *restrict m, float *restrict v, float *restrict vmax,
                        const float *restrict g, int64_t n, const em_adam_cfg *c, int64_t step) {
  int mode = c->weight_decay == 0.0 ? 0 : c->decoupled ? 2 : 1;
  if (vmax) {
    if (mode == 0) adam_loop(p, m, v, vmax, g, n, c, step, 0, 1);
    else if (mode == 1) adam_loop(p, m, v, vmax, g, n, c, step, 1, 1);
    else adam_loop(p, m, v, vmax, g, n, c, step, 2, 1);
  } else {
    if (mode == 0) adam_loop(p, m, v, NULL, g, n, c, step, 0, 0);
    else if (mode == 1) adam_loop(p, m, v, NULL, g, n, c, step, 1, 0);
    else adam_loop(p, m, v, NULL, g, n, c, step, 2, 0);
  }
}

static void adam_range(const step_job *j, int64_t b, int64_t e) {
  adam_kernel(j->p + b, j->s0 + b, j->s1 + b, OFF(j->s2, b), j->g + b, e - b, j->cfg, j->step);
}

int em_adam_step(em_tensor *p, const em_tensor *grad, em_tensor *m, em_tensor *v, em_tensor *vmax,
                 int64_t step, const em_adam_cfg *c) {
  const char *fn = c->decoupled ? "optim.adamw" : "optim.adam";
  if (check_param(fn, p, grad)) return -1;
  if (check_buf(fn, "first moment (exp_avg)", p, m)) return -1;
  if (check_buf(fn, "second moment (exp_avg_sq)", p, v)) return -1;
  if (c->amsgrad && check_buf(fn, "max second moment (max_exp_avg_sq)", p, vmax)) return -1;
  if (step < 1) return em_fail("%s: step count must be >= 1 (got %lld)", fn, (long long)step);
  em_tensor *ts[5] = {p, (em_tensor *)grad, m, v, c->amsgrad ? vmax : NULL};
  if (check_distinct(fn, ts, 5)) return -1;
  step_job j = {.p = em_data(p), .s0 = em_data(m), .s1 = em_data(v), .s2 = c->amsgrad ? em_data(vmax) : NULL,
                .g = em_data(grad), .cfg = c, .step = step, .kernel = adam_range};
  run_step(&j, em_numel(p), c->lr, c->l1);
  return 0;
}

/* ---- RMSprop ---- */

/* p, g, sq, gavg, buf are (n,); gavg is used only when centered, buf only when use_mom. Specialised
   on its flags like adam_loop. */
EM_ALWAYS_INLINE void rmsprop_loop(float *restrict p, float *restrict sq, float *restrict gavg,
                                   float *restrict buf, const float *restrict g, int64_t n,
                                   const em_rmsprop_cfg *c, const int use_wd, const int centered,
                                   const int use_mom) {
  const float a = (float)c->alpha, oa = (float)(1.0 - c->alpha), eps = (float)c->eps;
  const float wd = (float)c->weight_decay, mom = (float)c->momentum, neglr = (float)(-c->lr);
  const float sign = c->maximize ? -1.0f : 1.0f;
  for (int64_t i = 0; i < n; i++) {
    float d = g[i] * sign;
    if (use_wd) d = d + wd * p[i];
    float s = sq[i] * a + oa * d * d;
    sq[i] = s;
    float avg;
    if (centered) {
      float ga = gavg[i] * a + oa * d;
      gavg[i] = ga;
      avg = sqrtf(s + -1.0f * ga * ga);
    } else {
      avg = sqrtf(s);
    }
    avg = avg + eps;
    if (use_mom) {
      float b = buf[i] * mom + 1.0f * d / avg;
      buf[i] = b;
      p[i] = p[i] + neglr * b;
    } else {
      p[i] = p[i] + neglr * d / avg;
    }
  }
}

#define RMSPROP_CASE(wd, cen, mom) \
  case (wd) * 4 + (cen) * 2 + (mom): rmsprop_loop(p, sq, gavg, buf, g, n, c, wd, cen, mom); break;

static void rmsprop_kernel(float *restrict p, float *restrict sq, float *restrict gavg, float *restrict buf,
                           const float *restrict g, int64_t n, const em_rmsprop_cfg *c) {
  switch ((c->weight_decay != 0.0) * 4 + (gavg != NULL) * 2 + (buf != NULL)) {
    RMSPROP_CASE(0, 0, 0) RMSPROP_CASE(0, 0, 1) RMSPROP_CASE(0, 1, 0) RMSPROP_CASE(0, 1, 1)
    RMSPROP_CASE(1, 0, 0) RMSPROP_CASE(1, 0, 1) RMSPROP_CASE(1, 1, 0) RMSPROP_CASE(1, 1, 1)
  }
}

static void rmsprop_range(const step_job *j, int64_t b, int64_t e) {
  rmsprop_kernel(j->p + b, j->s0 + b, OFF(j->s1, b), OFF(j->s2, b), j->g + b, e - b, j->cfg);
}

int em_rmsprop_step(em_tensor *p, const em_tensor *grad, em_tensor *sq, em_tensor *gavg, em_tensor *buf,
                    const em_rmsprop_cfg *c) {
  const char *fn = "optim.rmsprop";
  if (check_param(fn, p, grad)) return -1;
  if (check_buf(fn, "square average (square_avg)", p, sq)) return -1;
  if (c->centered && check_buf(fn, "gradient average (grad_avg)", p, gavg)) return -1;
  if (c->momentum > 0 && check_buf(fn, "momentum buffer", p, buf)) return -1;
  em_tensor *ts[5] = {p, (em_tensor *)grad, sq, c->centered ? gavg : NULL, c->momentum > 0 ? buf : NULL};
  if (check_distinct(fn, ts, 5)) return -1;
  step_job j = {.p = em_data(p), .s0 = em_data(sq), .s1 = c->centered ? em_data(gavg) : NULL,
                .s2 = c->momentum > 0 ? em_data(buf) : NULL, .g = em_data(grad), .cfg = c,
                .kernel = rmsprop_range};
  run_step(&j, em_numel(p), c->lr, c->l1);
  return 0;
}

/* ---- Adagrad ---- */

/* p, g, sum are (n,) */
static void adagrad_kernel(float *restrict p, float *restrict sum, const float *restrict g, int64_t n,
                           const em_adagrad_cfg *c, int64_t step) {
  const double clr = c->lr / (1.0 + (double)(step - 1) * c->lr_decay);
  const float negclr = (float)(-clr), eps = (float)c->eps, wd = (float)c->weight_decay;
  const int use_wd = c->weight_decay != 0.0, maximize = c->maximize;
  for (int64_t i = 0; i < n; i++) {
    float d = maximize ? -g[i] : g[i];
    if (use_wd) d = d + wd * p[i];
    float s = sum[i] + 1.0f * d * d;
    sum[i] = s;
    float std = sqrtf(s) + eps;
    p[i] = p[i] + negclr * d / std;
  }
}

static void adagrad_range(const step_job *j, int64_t b, int64_t e) {
  adagrad_kernel(j->p + b, j->s0 + b, j->g + b, e - b, j->cfg, j->step);
}

int em_adagrad_step(em_tensor *p, const em_tensor *grad, em_tensor *sum, int64_t step,
                    const em_adagrad_cfg *c) {
  const char *fn = "optim.adagrad";
  if (check_param(fn, p, grad)) return -1;
  if (check_buf(fn, "accumulator (sum)", p, sum)) return -1;
  if (step < 1) return em_fail("%s: step count must be >= 1 (got %lld)", fn, (long long)step);
  em_tensor *ts[3] = {p, (em_tensor *)grad, sum};
  if (check_distinct(fn, ts, 3)) return -1;
  step_job j = {.p = em_data(p), .s0 = em_data(sum), .g = em_data(grad), .cfg = c, .step = step,
                .kernel = adagrad_range};
  /* the proximal step uses the decayed lr the update used */
  run_step(&j, em_numel(p), c->lr / (1.0 + (double)(step - 1) * c->lr_decay), c->l1);
  return 0;
}

/* ---- gradient clipping ---- */

/* gradients are contiguous (autograd and the .grad setter make private contiguous copies); anything
   else is refused rather than read wrongly */
static int check_grads(const char *fn, em_tensor *const *params, int n) {
  char a[EM_SHAPE_BUF];
  for (int k = 0; k < n; k++) {
    const em_tensor *g = params[k] ? params[k]->grad : NULL;
    if (g && !em_is_contiguous(g))
      return em_fail("%s: the gradient %s of parameter %d is not contiguous", fn,
                     em_tensor_shape_str(a, sizeof a, g), k + 1);
  }
  return 0;
}

int em_grad_norm(em_tensor *const *params, int n, double norm_type, double *total) {
  *total = 0.0;
  if (!(norm_type > 0.0))
    return em_fail("clip_grad_norm: norm_type must be > 0 or inf (got %g)", norm_type);
  if (check_grads("clip_grad_norm", params, n)) return -1;
  double acc = 0.0;
  int nan = 0;
  for (int k = 0; k < n; k++) {
    const em_tensor *g = params[k] ? params[k]->grad : NULL;
    if (!g) continue;
    const float *x = em_data(g);
    int64_t len = em_numel(g);
    if (isinf(norm_type)) {
      for (int64_t i = 0; i < len; i++) {
        double a = fabs((double)x[i]);
        if (a != a) nan = 1;
        else if (a > acc) acc = a;
      }
    } else if (norm_type == 2.0) {
      for (int64_t i = 0; i < len; i++) acc += (double)x[i] * (double)x[i];
    } else if (norm_type == 1.0) {
      for (int64_t i = 0; i < len; i++) acc += fabs((double)x[i]);
    } else {
      for (int64_t i = 0; i < len; i++) acc += pow(fabs((double)x[i]), norm_type);
    }
  }
  if (isinf(norm_type)) *total = nan ? NAN : acc;
  else if (norm_type == 1.0) *total = acc;
  else if (norm_type == 2.0) *total = sqrt(acc);
  else *total = pow(acc, 1.0 / norm_type);
  return 0;
}

int em_clip_grad_norm(em_tensor *const *params, int n, double max_norm, double norm_type, double *total) {
  if (!(max_norm >= 0.0) || isinf(max_norm))
    return em_fail("clip_grad_norm: max_norm must be a finite number >= 0 (got %g)", max_norm);
  if (em_grad_norm(params, n, norm_type, total)) return -1;
  if (!isfinite(*total)) return 0;
  double coef = max_norm / (*total + 1e-6);
  if (coef >= 1.0) return 0;
  float f = (float)coef;
  for (int k = 0; k < n; k++) {
    em_tensor *g = params[k] ? params[k]->grad : NULL;
    if (!g) continue;
    float *x = em_data(g);
    int64_t len = em_numel(g);
    for (int64_t i = 0; i < len; i++) x[i] *= f;
  }
  return 0;
}

int em_clip_grad_value(em_tensor *const *params, int n, double clip) {
  if (!(clip >= 0.0) || isinf(clip))
    return em_fail("clip_grad_value: clip_value must be a finite number >= 0 (got %g)", clip);
  if (check_grads("clip_grad_value", params, n)) return -1;
  const float hi = (float)clip, lo = -hi;
  for (int k = 0; k < n; k++) {
    em_tensor *g = params[k] ? params[k]->grad : NULL;
    if (!g) continue;
    float *x = em_data(g);
    int64_t len = em_numel(g);
    for (int64_t i = 0; i < len; i++) {
      float v = x[i];
      x[i] = v > hi ? hi : (v < lo ? lo : v);
    }
  }
  return 0;
}
