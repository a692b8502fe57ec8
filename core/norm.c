/* norm.c - batch normalisation over (N, C, *) as one fused kernel per direction: statistics, running
   averages, normalisation and affine in the forward; the three gradients in one backward pass.
   Reference: Ioffe & Szegedy 2015 (arXiv:1502.03167), section 3; running statistics and the unbiased
   running variance as torch.nn.BatchNorm1d/2d document them. */
#include <math.h>
#include <stdlib.h>
#include "nn.h"
#include "autograd.h"

/* layout: x is (N, C, S) with S the product of the trailing dims; channel c of sample n is the
   contiguous block x + (n C + c) S. */

/* Sums over one channel block in 4 independent double partial sums: a single running sum is a chain of
   dependent additions, 4 cycles each, and double keeps large blocks accurate. */
static double block_sum(const float *x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) { a0 += x[k]; a1 += x[k + 1]; a2 += x[k + 2]; a3 += x[k + 3]; }
  for (; k < n; k++) a0 += x[k];
  return (a0 + a1) + (a2 + a3);
}

/* sum (x - m)^2 */
static double block_sqdev(const float *x, int64_t n, double m) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    double d0 = x[k] - m, d1 = x[k + 1] - m, d2 = x[k + 2] - m, d3 = x[k + 3] - m;
    a0 += d0 * d0; a1 += d1 * d1; a2 += d2 * d2; a3 += d3 * d3;
  }
  for (; k < n; k++) { double d = x[k] - m; a0 += d * d; }
  return (a0 + a1) + (a2 + a3);
}

/* sum g and sum g (x - m), added to *sg and *sgx */
static void block_gsums(const float *g, const float *x, int64_t n, float m, double *sg, double *sgx) {
  double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int64_t k = 0;
  for (; k + 2 <= n; k += 2) {
    a0 += g[k]; a1 += g[k + 1];
    b0 += (double)g[k] * (x[k] - m); b1 += (double)g[k + 1] * (x[k + 1] - m);
  }
  for (; k < n; k++) { a0 += g[k]; b0 += (double)g[k] * (x[k] - m); }
  *sg += a0 + a1;
  *sgx += b0 + b1;
}

/* Backward, with xhat = (x - mean) invstd, y = gamma xhat + beta and M = N S values per channel:
     dbeta = sum g,  dgamma = sum g xhat
     training: dx = gamma invstd (g - dbeta / M - xhat dgamma / M)   (the batch stats depend on x)
     eval:     dx = gamma invstd g                                   (running stats are constants) */
typedef struct { int training; int64_t n, c, s; } batch_norm_state;   /* x viewed as (n, c, s) */

static int batch_norm_backward(em_node *nd, em_tensor *gout) {
  em_tensor *x = nd->inputs[0], *w = nd->inputs[1], *b = nd->inputs[2];
  const batch_norm_state *st = em_node_state(nd);
  const int training = st->training;
  const int64_t N = st->n, C = st->c, S = st->s, M = N * S;
  const float *stats = nd->extra;   /* mean[C], invstd[C] */
  em_tensor *gc = em_tensor_contiguous(gout), *dx = NULL, *dw = NULL, *db = NULL;
  int rc = -1;
  if (!gc) return -1;
  if ((x->requires_grad && !(dx = em_tensor_new(x->ndim, x->shape))) ||
      (w && w->requires_grad && !(dw = em_tensor_new(1, &C))) ||
      (b && b->requires_grad && !(db = em_tensor_new(1, &C))))
    goto out;
  const float *xs = em_data(nd->saved[0]), *g = em_data(gc);
  const float *gamma = nd->saved[1] ? em_data(nd->saved[1]) : NULL;
  for (int64_t c = 0; c < C; c++) {
    const float mean = stats[c], invstd = stats[C + c];
    double sg = 0.0, sgx = 0.0;   /* sum g, sum g (x - mean) */
    for (int64_t n = 0; n < N; n++) block_gsums(g + (n * C + c) * S, xs + (n * C + c) * S, S, mean, &sg, &sgx);
    const float dgamma = (float)(sgx * invstd);
    if (dw) em_data(dw)[c] = dgamma;
    if (db) em_data(db)[c] = (float)sg;
    if (!dx) continue;
    const float k = (gamma ? gamma[c] : 1.0f) * invstd;
    float *d = em_data(dx);
    if (training) {
      /* dx = k (g - sg / M - (x - mean) invstd dgamma / M) */
      const float mg = (float)(sg / (double)M), cx = invstd * dgamma / (float)M;
      for (int64_t n = 0; n < N; n++) {
        const float *xp = xs + (n * C + c) * S, *gp = g + (n * C + c) * S;
        float *dp = d + (n * C + c) * S;
        for (int64_t j = 0; j < S; j++) dp[j] = k * (gp[j] - mg - (xp[j] - mean) * cx);
      }
    } else {
      for (int64_t n = 0; n < N; n++) {
        const float *gp = g + (n * C + c) * S;
        float *dp = d + (n * C + c) * S;
        for (int64_t j = 0; j < S; j++) dp[j] = k * gp[j];
      }
    }
  }
  em_tensor_release(gc);
  rc = em_node_accum_owned(nd, 0, dx);
  rc |= em_node_accum_owned(nd, 1, dw);
  rc |= em_node_accum_owned(nd, 2, db);
  return rc ? -1 : 0;
out:
  em_tensor_release(dx);
  em_tensor_release(dw);
  em_tensor_release(db);
  em_tensor_release(gc);
  return rc;
}

/* a per-channel vector argument: NULL, or C contiguous values */
static int check_vec(const char *what, em_tensor *t, int64_t C, const char *sx) {
  if (!t) return 0;
  if (t->ndim != 1 || t->shape[0] != C) {
    char st[EM_SHAPE_BUF];
    return em_fail("batch_norm: %s must be [%lld] for input %s (got %s)", what, (long long)C, sx,
                   em_tensor_shape_str(st, sizeof st, t));
  }
  return 0;
}

em_tensor *em_batch_norm(em_tensor *x, em_tensor *weight, em_tensor *bias, em_tensor *running_mean,
                         em_tensor *running_var, int training, float momentum, float eps) {
  char sx[EM_SHAPE_BUF];
  em_tensor_shape_str(sx, sizeof sx, x);
  if (x->ndim < 2) { em_fail("batch_norm: input must be [N x C x ...] (got %s)", sx); return NULL; }
  const int64_t N = x->shape[0], C = x->shape[1], S = em_shape_numel(x->ndim - 2, x->shape + 2), M = N * S;
  if (check_vec("weight", weight, C, sx) || check_vec("bias", bias, C, sx) ||
      check_vec("running_mean", running_mean, C, sx) || check_vec("running_var", running_var, C, sx))
    return NULL;
  if ((running_mean == NULL) != (running_var == NULL)) {
    em_fail("batch_norm: give both running_mean and running_var or neither");
    return NULL;
  }
  if ((running_mean && !em_is_contiguous(running_mean)) || (running_var && !em_is_contiguous(running_var))) {
    em_fail("batch_norm: running statistics must be contiguous (they are updated in place)");
    return NULL;
  }
  if (!training && !running_mean) {
    em_fail("batch_norm: evaluation needs running_mean and running_var");
    return NULL;
  }
  if (training && M <= 1) {
    em_fail("batch_norm: expected more than 1 value per channel when training (input %s)", sx);
    return NULL;
  }
  if (!(eps >= 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) {
    em_fail("batch_norm: eps must be >= 0 and momentum in [0, 1] (got eps %g, momentum %g)", eps, momentum);
    return NULL;
  }
  em_tensor *xc = em_tensor_contiguous(x), *wc = weight ? em_tensor_contiguous(weight) : NULL;
  em_tensor *bc = bias ? em_tensor_contiguous(bias) : NULL;
  em_tensor *out = em_tensor_new(x->ndim, x->shape);
  float *stats = malloc((size_t)(2 * C + 1) * sizeof(float));   /* mean[C], invstd[C] */
  if (!xc || (weight && !wc) || (bias && !bc) || !out || !stats) {
    if (!stats) em_fail("batch_norm: out of memory");
    em_tensor_release(out);
    out = NULL;
    goto done;
  }
  const float *xs = em_data(xc), *gamma = wc ? em_data(wc) : NULL, *beta = bc ? em_data(bc) : NULL;
  float *y = em_data(out);
  for (int64_t c = 0; c < C; c++) {
    float mean, invstd;
    if (training) {
      /* two passes (mean, then squared deviations): no cancellation as in E[x^2] - E[x]^2 */
      double s = 0.0;
      for (int64_t n = 0; n < N; n++) s += block_sum(xs + (n * C + c) * S, S);
      const double mu = s / (double)M;
      double v = 0.0;
      for (int64_t n = 0; n < N; n++) v += block_sqdev(xs + (n * C + c) * S, S, mu);
      const double var = v / (double)M;
      mean = (float)mu;
      invstd = (float)(1.0 / sqrt(var + eps));
      if (running_mean) {
        float *rm = em_data(running_mean), *rv = em_data(running_var);
        rm[c] = (1.0f - momentum) * rm[c] + momentum * (float)mu;
        rv[c] = (1.0f - momentum) * rv[c] + momentum * (float)(v / (double)(M - 1));
      }
    } else {
      mean = em_data(running_mean)[c];
      invstd = (float)(1.0 / sqrt((double)em_data(running_var)[c] + eps));
    }
    stats[c] = mean;
    stats[C + c] = invstd;
    /* y = gamma (x - mean) invstd + beta = x scale + shift */
    const float scale = (gamma ? gamma[c] : 1.0f) * invstd;
    const float shift = (beta ? beta[c] : 0.0f) - mean * scale;
    for (int64_t n = 0; n < N; n++) {
      const float *xp = xs + (n * C + c) * S;
      float *yp = y + (n * C + c) * S;
      for (int64_t k = 0; k < S; k++) yp[k] = xp[k] * scale + shift;
    }
  }
  em_tensor *in[3] = {x, weight, bias};
  batch_norm_state st = {training, N, C, S};
  em_node *n;
  if (em_node_attach(&n, out, "batch_norm", batch_norm_backward, 3, in, &st, sizeof st) ||
      (n && (em_node_save(n, 0, xc) || em_node_save(n, 1, wc)))) {
    em_tensor_release(out);
    out = NULL;
  } else if (n) {
    n->extra = stats;
    stats = NULL;
  }
done:
  free(stats);
  em_tensor_release(xc);
  em_tensor_release(wc);
  em_tensor_release(bc);
  return out;
}
