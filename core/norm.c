/* norm.c - batch normalisation over (N, C, *) as one fused kernel per direction: statistics, running
   averages, normalisation and affine in the forward; the three gradients in one backward pass.
   Reference: Ioffe & Szegedy 2015 (arXiv:1502.03167), section 3; running statistics and the unbiased
   running variance as torch.nn.BatchNorm1d/2d document them.
   Channels are independent, so they are split over ember's workers; each channel's sums run in a fixed
   order on one worker, the same at every thread count.
   The batch mean is kept as two floats, hi + lo (hi the mean rounded to float, lo the rest): x - hi is
   exact for x near the mean (Sterbenz), so x - mean loses nothing to the mean's rounding. With one
   float the rounding of a mean of 1000 (3e-5) was 1.5e-5 of a spread of 2 in every deviation, and
   y = x scale + shift cancelled 500 against -500: 3e-5 relative error against 1e-5 for PyTorch. */
#include <math.h>
#include <stdlib.h>
#include "nn.h"
#include "autograd.h"
#include "parallel.h"

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

/* sum g and sum g (x - mean), added to *sg and *sgx; the mean is hi + lo */
static void block_gsums(const float *g, const float *x, int64_t n, float hi, float lo, double *sg, double *sgx) {
  double a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int64_t k = 0;
  for (; k + 2 <= n; k += 2) {
    a0 += g[k]; a1 += g[k + 1];
    b0 += (double)g[k] * ((x[k] - hi) - lo); b1 += (double)g[k + 1] * ((x[k + 1] - hi) - lo);
  }
  for (; k < n; k++) { a0 += g[k]; b0 += (double)g[k] * ((x[k] - hi) - lo); }
  *sg += a0 + a1;
  *sgx += b0 + b1;
}

/* what one direction needs, shared by the workers; stats is (3, C): the mean's hi and lo, then invstd */
typedef struct {
  int64_t N, C, S;
  int training;
  const float *x, *g, *gamma, *beta;
  float *y, *dx, *dgamma, *dbeta, *stats, *rm, *rv;
  float momentum, eps;
} bn_job;

/* channels per chunk: enough values (N S each) to be worth a worker */
static int64_t channel_grain(int64_t M) { return M >= 16384 ? 1 : (16384 + M - 1) / M; }

static void backward_channels(void *p, int64_t c0, int64_t c1, int worker) {
  const bn_job *j = p;
  const int64_t N = j->N, C = j->C, S = j->S, M = N * S;
  (void)worker;
  for (int64_t c = c0; c < c1; c++) {
    const float hi = j->stats[c], lo = j->stats[C + c], invstd = j->stats[2 * C + c];
    double sg = 0.0, sgx = 0.0;   /* sum g, sum g (x - mean) */
    for (int64_t n = 0; n < N; n++) block_gsums(j->g + (n * C + c) * S, j->x + (n * C + c) * S, S, hi, lo, &sg, &sgx);
    const float dgamma = (float)(sgx * invstd);
    if (j->dgamma) j->dgamma[c] = dgamma;
    if (j->dbeta) j->dbeta[c] = (float)sg;
    if (!j->dx) continue;
    const float k = (j->gamma ? j->gamma[c] : 1.0f) * invstd;
    if (j->training) {
      /* dx = k (g - sg / M - (x - mean) invstd dgamma / M) */
      const float mg = (float)(sg / (double)M), cx = invstd * dgamma / (float)M;
      for (int64_t n = 0; n < N; n++) {
        const float *xp = j->x + (n * C + c) * S, *gp = j->g + (n * C + c) * S;
        float *dp = j->dx + (n * C + c) * S;
        for (int64_t i = 0; i < S; i++) dp[i] = k * (gp[i] - mg - ((xp[i] - hi) - lo) * cx);
      }
    } else {
      for (int64_t n = 0; n < N; n++) {
        const float *gp = j->g + (n * C + c) * S;
        float *dp = j->dx + (n * C + c) * S;
        for (int64_t i = 0; i < S; i++) dp[i] = k * gp[i];
      }
    }
  }
}

static void forward_channels(void *p, int64_t c0, int64_t c1, int worker) {
  const bn_job *j = p;
  const int64_t N = j->N, C = j->C, S = j->S, M = N * S;
  (void)worker;
  for (int64_t c = c0; c < c1; c++) {
    float hi, lo = 0.0f, invstd;
    if (j->training) {
      /* two passes (mean, then squared deviations): no cancellation as in E[x^2] - E[x]^2 */
      double s = 0.0;
      for (int64_t n = 0; n < N; n++) s += block_sum(j->x + (n * C + c) * S, S);
      const double mu = s / (double)M;
      double v = 0.0;
      for (int64_t n = 0; n < N; n++) v += block_sqdev(j->x + (n * C + c) * S, S, mu);
      hi = (float)mu;
      lo = (float)(mu - hi);
      invstd = (float)(1.0 / sqrt(v / (double)M + j->eps));
      if (j->rm) {
        j->rm[c] = (1.0f - j->momentum) * j->rm[c] + j->momentum * (float)mu;
        j->rv[c] = (1.0f - j->momentum) * j->rv[c] + j->momentum * (float)(v / (double)(M - 1));
      }
    } else {
      hi = j->rm[c];
      invstd = (float)(1.0 / sqrt((double)j->rv[c] + j->eps));
    }
    j->stats[c] = hi;
    j->stats[C + c] = lo;
    j->stats[2 * C + c] = invstd;
    /* y = gamma (x - mean) invstd + beta */
    const float scale = (j->gamma ? j->gamma[c] : 1.0f) * invstd, beta = j->beta ? j->beta[c] : 0.0f;
    for (int64_t n = 0; n < N; n++) {
      const float *xp = j->x + (n * C + c) * S;
      float *yp = j->y + (n * C + c) * S;
      for (int64_t k = 0; k < S; k++) yp[k] = ((xp[k] - hi) - lo) * scale + beta;
    }
  }
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
  em_tensor *gc = em_tensor_contiguous(gout), *dx = NULL, *dw = NULL, *db = NULL;
  int rc = -1;
  if (!gc) return -1;
  if ((x->requires_grad && !(dx = em_tensor_new(x->ndim, x->shape))) ||
      (w && w->requires_grad && !(dw = em_tensor_new(1, &C))) ||
      (b && b->requires_grad && !(db = em_tensor_new(1, &C))))
    goto out;
  bn_job j = {.N = N, .C = C, .S = S, .training = training, .x = em_data(nd->saved[0]), .g = em_data(gc),
              .gamma = nd->saved[1] ? em_data(nd->saved[1]) : NULL, .dx = dx ? em_data(dx) : NULL,
              .dgamma = dw ? em_data(dw) : NULL, .dbeta = db ? em_data(db) : NULL, .stats = nd->extra};
  em_parallel_for(C, channel_grain(M), backward_channels, &j);
  rc = 0;
out:
  em_tensor_release(gc);
  return em_node_accum3_owned(nd, rc == 0, dx, dw, db);
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
  float *stats = malloc((size_t)(3 * C + 1) * sizeof(float));   /* the mean's hi[C] and lo[C], invstd[C] */
  if (!xc || (weight && !wc) || (bias && !bc) || !out || !stats) {
    if (!stats) em_fail("batch_norm: out of memory");
    em_tensor_release(out);
    out = NULL;
    goto done;
  }
  bn_job j = {.N = N, .C = C, .S = S, .training = training, .x = em_data(xc), .gamma = wc ? em_data(wc) : NULL,
              .beta = bc ? em_data(bc) : NULL, .y = em_data(out), .stats = stats,
              .rm = running_mean ? em_data(running_mean) : NULL, .rv = running_var ? em_data(running_var) : NULL,
              .momentum = momentum, .eps = eps};
  em_parallel_for(C, channel_grain(M), forward_channels, &j);
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
