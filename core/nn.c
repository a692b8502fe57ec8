/* nn.c - the fused linear layer (one GEMM with the bias folded in, as torch.addmm) and inverted dropout,
   with their backward passes. */
#include <stdlib.h>
#include <string.h>
#include "nn.h"
#include "autograd.h"
#include "blas.h"
#include "parallel.h"

/* column sums d[o] += sum over r of g[r][o] for o in [o0, o1): each column adds its rows in order,
   however the columns are split */
typedef struct { const float *g; float *d; int64_t R, OUT; } bias_job;

static void bias_columns(void *p, int64_t o0, int64_t o1, int worker) {
  const bias_job *j = p;
  (void)worker;
  for (int64_t r = 0; r < j->R; r++) {
    const float *gr = j->g + r * j->OUT;
    for (int64_t o = o0; o < o1; o++) j->d[o] += gr[o];
  }
}

/* y (R, out) = x (R, in) w^T + b; backward (torch.nn.functional.linear's gradients):
     dx = g w  (R, in),  dw = g^T x  (out, in),  db = column sums of g */
typedef struct { int64_t rows, in, out; } linear_state;

static int linear_backward(em_node *nd, em_tensor *gout) {
  em_tensor *x = nd->inputs[0], *w = nd->inputs[1], *b = nd->inputs[2];
  const linear_state *st = em_node_state(nd);
  const int64_t R = st->rows, IN = st->in, OUT = st->out;
  em_tensor *gc = em_tensor_contiguous(gout), *dx = NULL, *dw = NULL, *db = NULL;
  int rc = -1;
  if (!gc) return -1;
  const float *g = em_data(gc);
  if (x->requires_grad) {
    if (!(dx = em_tensor_new(x->ndim, x->shape))) goto out;
    if (R > 0 && IN > 0) {
      if (OUT > 0) em_sgemm(0, 0, (int)R, (int)IN, (int)OUT, 1.0f, g, (int)OUT, em_data(nd->saved[1]), (int)IN, 0.0f,
                            em_data(dx), (int)IN);
      else memset(em_data(dx), 0, (size_t)(R * IN) * sizeof(float));
    }
  }
  if (w->requires_grad) {
    if (!(dw = em_tensor_zeros(w->ndim, w->shape))) goto out;
    if (R > 0 && IN > 0 && OUT > 0)
      em_sgemm(1, 0, (int)OUT, (int)IN, (int)R, 1.0f, g, (int)OUT, em_data(nd->saved[0]), (int)IN, 0.0f, em_data(dw),
               (int)IN);
  }
  if (b && b->requires_grad) {
    if (!(db = em_tensor_zeros(b->ndim, b->shape))) goto out;
    float *d = em_data(db);
    if (OUT >= 8) {   /* wide rows: the inner loop vectorises over outputs, blocks of them on the pool */
      bias_job j = {g, d, R, OUT};
      int64_t grain = ((32768 / (R > 0 ? R : 1)) + 15) / 16 * 16;
      em_parallel_for(OUT, grain > 16 ? grain : 16, bias_columns, &j);
    } else {          /* few outputs: four partial sums per output break the chain of dependent adds */
      for (int64_t o = 0; o < OUT; o++) {
        float acc[4] = {0, 0, 0, 0};
        int64_t r = 0;
        for (; r + 4 <= R; r += 4)
          for (int q = 0; q < 4; q++) acc[q] += g[(r + q) * OUT + o];
        for (; r < R; r++) acc[0] += g[r * OUT + o];
        d[o] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
      }
    }
  }
  rc = 0;
out:
  em_tensor_release(gc);
  return em_node_accum3_owned(nd, rc == 0, dx, dw, db);
}

em_tensor *em_linear(em_tensor *x, em_tensor *w, em_tensor *b) {
  char sx[EM_SHAPE_BUF], sw[EM_SHAPE_BUF];   /* formatted only for messages: this is a per-step path */
  if (w->ndim != 2) {
    em_fail("linear: weight must be [out x in] (got %s)", em_tensor_shape_str(sw, sizeof sw, w));
    return NULL;
  }
  const int64_t OUT = w->shape[0], IN = w->shape[1];
  if (x->ndim < 1 || x->shape[x->ndim - 1] != IN) {
    em_fail("linear: input %s does not end in %lld features (weight %s)", em_tensor_shape_str(sx, sizeof sx, x),
            (long long)IN, em_tensor_shape_str(sw, sizeof sw, w));
    return NULL;
  }
  if (b && (b->ndim != 1 || b->shape[0] != OUT)) {
    char sb[EM_SHAPE_BUF];
    em_fail("linear: bias must be [%lld] (got %s)", (long long)OUT, em_tensor_shape_str(sb, sizeof sb, b));
    return NULL;
  }
  const int64_t R = IN > 0 ? em_numel(x) / IN : em_shape_numel(x->ndim - 1, x->shape);
  if (R > INT32_MAX || IN > INT32_MAX || OUT > INT32_MAX) {
    em_fail("linear: input %s is too large", em_tensor_shape_str(sx, sizeof sx, x));
    return NULL;
  }
  int64_t shape[EM_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = OUT;
  em_tensor *out = em_tensor_new(x->ndim, shape);
  em_tensor *xc = out ? em_tensor_contiguous(x) : NULL, *wc = xc ? em_tensor_contiguous(w) : NULL;
  em_tensor *bc = (wc && b) ? em_tensor_contiguous(b) : NULL;
  if (!out || !xc || !wc || (b && !bc)) {
    em_tensor_release(out);
    out = NULL;
    goto done;
  }
  float *y = em_data(out);
  if (b) {   /* y starts as the bias in every row, and the GEMM adds x w^T to it (beta = 1) */
    const float *bv = em_data(bc);
    if (OUT == 1) for (int64_t r = 0; r < R; r++) y[r] = bv[0];
    else for (int64_t r = 0; r < R; r++) memcpy(y + r * OUT, bv, (size_t)OUT * sizeof(float));
  }
  if (R > 0 && OUT > 0) {
    if (IN > 0) em_sgemm(0, 1, (int)R, (int)OUT, (int)IN, 1.0f, em_data(xc), (int)IN, em_data(wc), (int)IN,
                         b ? 1.0f : 0.0f, y, (int)OUT);
    else if (!b) memset(y, 0, (size_t)(R * OUT) * sizeof(float));
  }
  em_tensor *in[3] = {x, w, b};
  linear_state st = {R, IN, OUT};
  em_node *n;
  if (em_node_attach(&n, out, "linear", linear_backward, 3, in, &st, sizeof st) ||
      (n && (em_node_save(n, 0, xc) || em_node_save(n, 1, wc)))) {
    em_tensor_release(out);
    out = NULL;
  }
done:
  em_tensor_release(xc);
  em_tensor_release(wc);
  em_tensor_release(bc);
  return out;
}

/* dx = g mask, where mask holds 0 or 1 / (1 - p) */
static int dropout_backward(em_node *nd, em_tensor *gout) {
  em_tensor *gc = em_tensor_contiguous(gout);
  em_tensor *dx = gc ? em_tensor_new(gc->ndim, gc->shape) : NULL;
  int rc = -1;
  if (dx) {
    const float *g = em_data(gc), *m = em_data(nd->saved[0]);
    float *d = em_data(dx);
    for (int64_t i = 0, n = em_numel(dx); i < n; i++) d[i] = g[i] * m[i];
    rc = em_node_accum_owned(nd, 0, dx);
    dx = NULL;
  }
  em_tensor_release(dx);
  em_tensor_release(gc);
  return rc;
}

em_tensor *em_dropout(em_tensor *x, float p, em_rng *r) {
  if (!(p >= 0.0f && p <= 1.0f)) { em_fail("dropout: p must be in [0, 1] (got %g)", p); return NULL; }
  em_tensor *xc = em_tensor_contiguous(x);
  em_tensor *out = xc ? em_tensor_new(x->ndim, x->shape) : NULL, *mask = out ? em_tensor_new(x->ndim, x->shape) : NULL;
  if (!mask) { em_tensor_release(xc); em_tensor_release(out); return NULL; }
  const int64_t n = em_numel(x);
  const float *xs = em_data(xc);
  float *y = em_data(out), *m = em_data(mask);
  if (p >= 1.0f) {   /* everything dropped (PyTorch returns zeros rather than 0 * inf) */
    for (int64_t i = 0; i < n; i++) m[i] = 0.0f;
  } else {
    /* keep when a uniform 32-bit draw is >= p 2^32: probability 1 - p to within 2^-32 */
    const uint32_t thr = (uint32_t)((double)p * 4294967296.0);
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) m[i] = em_rng_u32(r) >= thr ? scale : 0.0f;
  }
  for (int64_t i = 0; i < n; i++) y[i] = xs[i] * m[i];
  em_tensor_release(xc);
  em_node *nd;
  if (em_node_attach(&nd, out, "dropout", dropout_backward, 1, &x, NULL, 0) || (nd && em_node_save(nd, 0, mask))) {
    em_tensor_release(out);
    out = NULL;
  }
  em_tensor_release(mask);
  return out;
}
