/* reduce.c - reductions over all elements or one dim (sum, mean, max, min, argmax, argmin) and
   softmax / log_softmax, with their gradients. A reduction over dim d views the contiguous input as
   (outer, n, inner). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "autograd.h"

int em_wrap_dim(const char *fn, int dim, int ndim) {
  int lim = ndim > 0 ? ndim : 1;
  int d = dim < 0 ? dim + lim : dim;
  if (d < 0 || d >= lim)
    return em_fail_kind(EM_ESHAPE, "%s: dimension %d out of range for a %d-d tensor (expected 1..%d or -%d..-1)", fn,
                   dim < 0 ? dim : dim + 1, ndim, lim, lim);
  return d;
}

typedef struct { int64_t outer, n, inner; int ndim; int64_t shape[EM_MAX_DIMS]; } rshape;

/* output shape of reducing dim d (EM_ALL: everything) with or without keepdim */
static int reduce_shape(const char *fn, em_tensor *a, int dim, int keepdim, int *d_out, rshape *r) {
  if (dim == EM_ALL) {
    r->outer = 1; r->n = em_numel(a); r->inner = 1;
    r->ndim = keepdim ? a->ndim : 0;
    for (int i = 0; i < r->ndim; i++) r->shape[i] = 1;
    *d_out = EM_ALL;
    return 0;
  }
  int d = em_wrap_dim(fn, dim, a->ndim);
  if (d < 0) return -1;
  *d_out = d;
  if (a->ndim == 0) { r->outer = r->n = r->inner = 1; r->ndim = 0; return 0; }
  r->outer = 1; r->inner = 1;
  for (int i = 0; i < d; i++) r->outer *= a->shape[i];
  for (int i = d + 1; i < a->ndim; i++) r->inner *= a->shape[i];
  r->n = a->shape[d];
  r->ndim = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (i == d) { if (keepdim) r->shape[r->ndim++] = 1; }
    else r->shape[r->ndim++] = a->shape[i];
  }
  return 0;
}

/* gradient of a reduction over dim d (EM_ALL: everything): g (reduced shape) broadcast back over the
   reduced dim, times scale */
static em_tensor *expand_back(em_node *n, em_tensor *g, int d, float scale) {
  em_tensor *in = n->inputs[0];
  int64_t ks[EM_MAX_DIMS];
  int kn = in->ndim;
  for (int i = 0; i < kn; i++) ks[i] = (d == EM_ALL || i == d) ? 1 : in->shape[i];
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return NULL;
  em_tensor *gv = em_tensor_view_raw(gc, kn, ks);   /* keepdim form */
  em_tensor_release(gc);
  if (!gv) return NULL;
  em_tensor *out = em_tensor_new(in->ndim, in->shape);
  if (out) {
    em_tensor *e = em_tensor_expand_raw(gv, in->ndim, in->shape);
    if (!e || em_tensor_copy_(out, e)) { em_tensor_release(out); out = NULL; }
    else if (scale != 1.0f) for (int64_t i = 0, m = em_numel(out); i < m; i++) out->storage->data[i] *= scale;
    em_tensor_release(e);
  }
  em_tensor_release(gv);
  return out;
}

typedef struct { int dim; float scale; } sum_state;   /* scale: 1 for sum, 1 / n for mean */

static int sum_backward(em_node *n, em_tensor *g) {
  const sum_state *st = em_node_state(n);
  em_tensor *gi = expand_back(n, g, st->dim, st->scale);
  if (!gi) return -1;
  return em_node_accum_owned(n, 0, gi);
}

static em_tensor *sum_mean(em_tensor *a, int dim, int keepdim, int mean) {
  const char *fn = mean ? "mean" : "sum";
  rshape r;
  int d;
  if (reduce_shape(fn, a, dim, keepdim, &d, &r)) return NULL;
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_new(r.ndim, r.shape);
  if (!out) { em_tensor_release(ac); return NULL; }
  const float *x = em_data(ac);
  float *y = out->storage->data;
  float scale = mean ? (r.n ? 1.0f / (float)r.n : NAN) : 1.0f;
  /* nothing to compute for an empty result: its rows could be 2^40 long (zeros(2^40, 0):sum(1)) */
  const int64_t outer = em_numel(out) > 0 ? r.outer : 0;
  for (int64_t o = 0; o < outer; o++) {
    if (r.inner == 1) {   /* contiguous run: pairwise-ish accumulation in double for accuracy */
      double acc = 0;
      const float *p = x + o * r.n;
      for (int64_t k = 0; k < r.n; k++) acc += p[k];
      y[o] = (float)(acc * scale);
    } else {
      float *yo = y + o * r.inner;
      for (int64_t i = 0; i < r.inner; i++) yo[i] = 0.0f;
      for (int64_t k = 0; k < r.n; k++) {
        const float *p = x + (o * r.n + k) * r.inner;
        for (int64_t i = 0; i < r.inner; i++) yo[i] += p[i];
      }
      if (mean) for (int64_t i = 0; i < r.inner; i++) yo[i] *= scale;
    }
  }
  em_tensor_release(ac);
  sum_state st = {d, scale};
  return em_node_record(out, fn, sum_backward, 1, &a, &st, sizeof st);
}

em_tensor *em_sum(em_tensor *a, int dim, int keepdim) { return sum_mean(a, dim, keepdim, 0); }
em_tensor *em_mean(em_tensor *a, int dim, int keepdim) {
  if (em_numel(a) == 0) { em_fail("mean: tensor has no elements"); return NULL; }
  return sum_mean(a, dim, keepdim, 1);
}

/* max/min backward. Over a dim the gradient goes to the element selected in each row; over everything
   it is split evenly among every element equal to the result (NaN: among the NaNs), as PyTorch does.
   extra holds the indices: one per row, or the ties positions of a full reduction. */
typedef struct {
  int64_t outer, n, inner;
  int64_t ties;   /* full reduction: how many elements tie for the result; 0 over a dim */
} extreme_state;

static int select_backward(em_node *n, em_tensor *g) {
  const extreme_state *st = em_node_state(n);
  em_tensor *in = n->inputs[0];
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *gi = em_tensor_zeros(in->ndim, in->shape);
  if (!gi) { em_tensor_release(gc); return -1; }
  const int64_t *idx = n->extra;
  const int64_t outer = st->outer, len = st->n, inner = st->inner;
  const float *gp = em_data(gc);
  if (st->ties) {
    const float share = gp[0] / (float)st->ties;
    for (int64_t k = 0; k < st->ties; k++) gi->storage->data[idx[k]] = share;
  } else {
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < inner; i++)
        gi->storage->data[(o * len + idx[o * inner + i]) * inner + i] += gp[o * inner + i];
  }
  em_tensor_release(gc);
  return em_node_accum_owned(n, 0, gi);
}

/* kind: 0 max, 1 min, 2 argmax, 3 argmin. NaN wins (propagates), as in PyTorch. */
static em_tensor *extreme(em_tensor *a, int dim, int keepdim, int kind) {
  static const char *names[] = {"max", "min", "argmax", "argmin"};
  const char *fn = names[kind];
  if (em_numel(a) == 0) { em_fail("%s: tensor has no elements", fn); return NULL; }
  rshape r;
  int d;
  if (reduce_shape(fn, a, dim, keepdim, &d, &r)) return NULL;
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_new(r.ndim, r.shape);
  int64_t *idx = malloc((size_t)(r.outer * r.inner) * sizeof *idx);
  if (!out || !idx) { em_tensor_release(ac); em_tensor_release(out); free(idx); em_fail_kind(EM_ENOMEM, "%s: out of memory", fn); return NULL; }
  const float *x = em_data(ac);
  int want_min = kind == 1 || kind == 3;
  for (int64_t o = 0; o < r.outer; o++)
    for (int64_t i = 0; i < r.inner; i++) {
      const float *p = x + o * r.n * r.inner + i;
      int64_t best = 0;
      float bv = p[0];
      for (int64_t k = 1; k < r.n && bv == bv; k++) {
        float v = p[k * r.inner];
        if (v != v || (want_min ? v < bv : v > bv)) { bv = v; best = k; }
      }
      idx[o * r.inner + i] = best;
      out->storage->data[o * r.inner + i] = kind >= 2 ? (float)best : bv;
    }
  if (kind >= 2) { em_tensor_release(ac); free(idx); return out; }
  extreme_state st = {r.outer, r.n, r.inner, 0};
  if (d == EM_ALL && em_grad_enabled() && a->requires_grad) {   /* find the ties that share the gradient */
    const float bv = out->storage->data[0];
    for (int64_t k = 0; k < r.n; k++) st.ties += x[k] == bv || (x[k] != x[k] && bv != bv);
    int64_t *all = realloc(idx, (size_t)st.ties * sizeof *idx);
    if (!all) { em_tensor_release(ac); em_tensor_release(out); free(idx); em_fail_kind(EM_ENOMEM, "%s: out of memory", fn); return NULL; }
    idx = all;
    for (int64_t k = 0, j = 0; k < r.n; k++)
      if (x[k] == bv || (x[k] != x[k] && bv != bv)) idx[j++] = k;
  }
  em_tensor_release(ac);
  em_node *n;
  if (em_node_attach(&n, out, fn, select_backward, 1, &a, &st, sizeof st)) {
    em_tensor_release(out);
    out = NULL;
  }
  if (n) n->extra = idx;
  else free(idx);
  return out;
}

em_tensor *em_max(em_tensor *a, int dim, int keepdim) { return extreme(a, dim, keepdim, 0); }
em_tensor *em_min(em_tensor *a, int dim, int keepdim) { return extreme(a, dim, keepdim, 1); }
em_tensor *em_argmax(em_tensor *a, int dim, int keepdim) { return extreme(a, dim, keepdim, 2); }
em_tensor *em_argmin(em_tensor *a, int dim, int keepdim) { return extreme(a, dim, keepdim, 3); }

/* softmax backward: dx = y (g - sum(g y)); log_softmax: dx = g - exp(y) sum(g) */
typedef struct { int log; int64_t outer, n, inner; } softmax_state;

static int softmax_backward(em_node *n, em_tensor *g) {
  const softmax_state *st = em_node_state(n);
  const int logf_ = st->log;
  const int64_t outer = st->outer, len = st->n, inner = st->inner;
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *dx = em_tensor_new_like(gc);
  if (!dx) { em_tensor_release(gc); return -1; }
  const float *y = em_data(n->saved[0]), *gp = em_data(gc);
  float *d = dx->storage->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i;
      double s = 0;
      for (int64_t k = 0; k < len; k++) {
        int64_t j = base + k * inner;
        s += logf_ ? gp[j] : gp[j] * y[j];
      }
      for (int64_t k = 0; k < len; k++) {
        int64_t j = base + k * inner;
        d[j] = logf_ ? gp[j] - expf(y[j]) * (float)s : y[j] * (gp[j] - (float)s);
      }
    }
  em_tensor_release(gc);
  return em_node_accum_owned(n, 0, dx);
}

static em_tensor *softmax_impl(em_tensor *a, int dim, int log_) {
  const char *fn = log_ ? "log_softmax" : "softmax";
  rshape r;
  int d;
  if (reduce_shape(fn, a, dim, 1, &d, &r)) return NULL;
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_new(a->ndim, a->shape);
  if (!out) { em_tensor_release(ac); return NULL; }
  const float *x = em_data(ac);
  float *y = out->storage->data;
  for (int64_t o = 0; o < r.outer; o++)
    for (int64_t i = 0; i < r.inner; i++) {
      int64_t base = o * r.n * r.inner + i;
      float m = -INFINITY;
      for (int64_t k = 0; k < r.n; k++) { float v = x[base + k * r.inner]; if (v > m || v != v) m = v; }
      double s = 0;
      for (int64_t k = 0; k < r.n; k++) s += exp((double)(x[base + k * r.inner] - m));
      float ls = (float)log(s);
      for (int64_t k = 0; k < r.n; k++) {
        int64_t j = base + k * r.inner;
        y[j] = log_ ? x[j] - m - ls : (float)(exp((double)(x[j] - m)) / s);
      }
    }
  em_tensor_release(ac);
  softmax_state st = {log_, r.outer, r.n, r.inner};
  em_node *n;
  if (em_node_attach(&n, out, fn, softmax_backward, 1, &a, &st, sizeof st) || (n && em_node_save(n, 0, out))) {
    em_tensor_release(out);
    return NULL;
  }
  return out;
}

em_tensor *em_softmax(em_tensor *a, int dim) { return softmax_impl(a, dim, 0); }
em_tensor *em_log_softmax(em_tensor *a, int dim) { return softmax_impl(a, dim, 1); }
