/* elementwise.c - unary and broadcasting binary ops (NumPy/PyTorch broadcasting rules) and their
   gradients. Gradients w.r.t. a broadcast input are summed back to its shape by autograd's accumulate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "autograd.h"
#include "parallel.h"

const char *const em_binop_names[EM_BIN_COUNT] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"};
const char *const em_unop_names[EM_UN_COUNT] = {
  "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "sin", "cos", "sign", "gelu", "square",
  "log1p", "softplus"};
_Static_assert(EM_BIN_COUNT == 13, "update em_binop_names");
_Static_assert(EM_UN_COUNT == 15, "update em_unop_names");

/* ---- broadcasting iteration over up to three operands ---- */

typedef struct {
  int ndim;
  int64_t shape[EM_MAX_DIMS];
  int64_t st[3][EM_MAX_DIMS];   /* element strides of each operand in the broadcast shape (0: broadcast) */
  int64_t off[3];
} bcast;

static int broadcast(const char *fn, int n, em_tensor *const *ts, bcast *it) {
  int nd = 0;
  for (int k = 0; k < n; k++) if (ts[k]->ndim > nd) nd = ts[k]->ndim;
  it->ndim = nd;
  for (int i = 0; i < nd; i++) {
    int64_t s = 1;
    for (int k = 0; k < n; k++) {
      int j = i - (nd - ts[k]->ndim);
      int64_t d = j >= 0 ? ts[k]->shape[j] : 1;
      if (d == s || d == 1) continue;
      if (s == 1) { s = d; continue; }
      char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF], c[EM_SHAPE_BUF];
      if (n == 2)
        return em_fail_kind(EM_ESHAPE, "%s: shapes %s and %s are not broadcastable", fn,
                       em_tensor_shape_str(a, sizeof a, ts[0]), em_tensor_shape_str(b, sizeof b, ts[1]));
      return em_fail_kind(EM_ESHAPE, "%s: shapes %s, %s and %s are not broadcastable", fn,
                     em_tensor_shape_str(a, sizeof a, ts[0]), em_tensor_shape_str(b, sizeof b, ts[1]),
                     em_tensor_shape_str(c, sizeof c, ts[2]));
    }
    it->shape[i] = s;
  }
  for (int k = 0; k < n; k++) {
    it->off[k] = ts[k]->offset;
    for (int i = 0; i < nd; i++) {
      int j = i - (nd - ts[k]->ndim);
      it->st[k][i] = (j >= 0 && ts[k]->shape[j] != 1) ? ts[k]->stride[j] : 0;
    }
  }
  return 0;
}

/* calls row(ctx, out_row, p0, s0, p1, s1, p2, s2, len) for every innermost row of the broadcast shape */
typedef void (*row_fn)(void *ctx, float *out, const float *p[3], const int64_t s[3], int64_t len);

static void for_rows(bcast *it, int n, em_tensor *const *ts, float *out, row_fn row, void *ctx) {
  int nd = it->ndim;
  int64_t total = em_shape_numel(nd, it->shape);
  if (total == 0) return;
  int64_t len = nd ? it->shape[nd - 1] : 1;
  int64_t s[3] = {0, 0, 0}, off[3];
  const float *base[3] = {0};
  for (int k = 0; k < n; k++) {
    s[k] = nd ? it->st[k][nd - 1] : 0;
    base[k] = ts[k]->storage->data;
    off[k] = it->off[k];
  }
  int64_t idx[EM_MAX_DIMS] = {0};
  for (int64_t done = 0; done < total; done += len) {
    const float *p[3];
    for (int k = 0; k < n; k++) p[k] = base[k] + off[k];
    row(ctx, out, p, s, len);
    if (out) out += len;
    for (int d = nd - 2; d >= 0; d--) {
      for (int k = 0; k < n; k++) off[k] += it->st[k][d];
      if (++idx[d] < it->shape[d]) break;
      for (int k = 0; k < n; k++) off[k] -= idx[d] * it->st[k][d];
      idx[d] = 0;
    }
  }
}

/* ---- binary ---- */

#define BIN_LOOP(EXPR) do { \
    if (s[0] == 1 && s[1] == 1) for (int64_t i = 0; i < len; i++) { float x = a[i], y = b[i]; out[i] = (EXPR); } \
    else if (s[0] == 1 && s[1] == 0) { float y = b[0]; for (int64_t i = 0; i < len; i++) { float x = a[i]; out[i] = (EXPR); } } \
    else if (s[0] == 0 && s[1] == 1) { float x = a[0]; for (int64_t i = 0; i < len; i++) { float y = b[i]; out[i] = (EXPR); } } \
    else for (int64_t i = 0; i < len; i++) { float x = a[i * s[0]], y = b[i * s[1]]; out[i] = (EXPR); } \
  } while (0)

static void binary_row(void *ctx, float *out, const float *p[3], const int64_t s[3], int64_t len) {
  em_binop op = *(em_binop *)ctx;
  const float *a = p[0], *b = p[1];
  switch (op) {
  case EM_BIN_ADD: BIN_LOOP(x + y); break;
  case EM_BIN_SUB: BIN_LOOP(x - y); break;
  case EM_BIN_MUL: BIN_LOOP(x * y); break;
  case EM_BIN_DIV: BIN_LOOP(x / y); break;
  case EM_BIN_POW: BIN_LOOP(y == 2.0f ? x * x : powf(x, y)); break;
  case EM_BIN_MAX: BIN_LOOP(x != x || y != y ? x + y : (x > y ? x : y)); break;
  case EM_BIN_MIN: BIN_LOOP(x != x || y != y ? x + y : (x < y ? x : y)); break;
  case EM_BIN_EQ: BIN_LOOP((float)(x == y)); break;
  case EM_BIN_NE: BIN_LOOP((float)(x != y)); break;
  case EM_BIN_LT: BIN_LOOP((float)(x < y)); break;
  case EM_BIN_LE: BIN_LOOP((float)(x <= y)); break;
  case EM_BIN_GT: BIN_LOOP((float)(x > y)); break;
  case EM_BIN_GE: BIN_LOOP((float)(x >= y)); break;
  default: break;
  }
}

/* elementwise work on large tensors is split over ember's workers; below this many elements waking
   them costs more than it saves */
#define PAR_GRAIN 32768

typedef struct { int op; float *y; const float *x, *g, *xs, *ys; } ew_job;

static void binary_range(void *p, int64_t b, int64_t e, int worker) {
  (void)worker;
  ew_job *j = p;
  em_binop op = (em_binop)j->op;
  const float *ps[3] = {j->x + b, j->g + b, NULL};
  const int64_t st[3] = {1, 1, 0};
  binary_row(&op, j->y + b, ps, st, e - b);
}

/* forward without autograd; out shaped by broadcasting */
static em_tensor *binary_raw(em_binop op, em_tensor *a, em_tensor *b) {
  if (em_same_shape(a, b) && em_is_contiguous(a) && em_is_contiguous(b)) {   /* the common case, no iterator */
    em_tensor *out = em_tensor_new(a->ndim, a->shape);
    if (!out) return NULL;
    ew_job j = {.op = op, .y = out->storage->data, .x = em_data(a), .g = em_data(b)};
    em_parallel_for(em_numel(a), PAR_GRAIN, binary_range, &j);
    return out;
  }
  em_tensor *ts[2] = {a, b};
  bcast it;
  if (broadcast(em_binop_names[op], 2, ts, &it)) return NULL;
  em_tensor *out = em_tensor_new(it.ndim, it.shape);
  if (!out) return NULL;
  for_rows(&it, 2, ts, out->storage->data, binary_row, &op);
  return out;
}

/* Both inputs' gradients of pow, maximum and minimum, elementwise over the broadcast shape of (g, a, b);
   autograd's accumulate sums them back to each input's shape. Rare ops: a plain indexed walk.
     pow:  d/da = g b a^(b-1);  d/db = g a^b log a, 0 where a <= 0 (as PyTorch)
     max/min: the gradient goes to the larger (smaller) input; ties split it evenly */
static int pair_grads(em_binop op, em_tensor *g, em_tensor *a, em_tensor *b, em_tensor **ga, em_tensor **gb) {
  em_tensor *ts[3] = {g, a, b};
  bcast it;
  if (broadcast(em_binop_names[op], 3, ts, &it)) return -1;
  *ga = em_tensor_new(it.ndim, it.shape);
  *gb = em_tensor_new(it.ndim, it.shape);
  if (!*ga || !*gb) return -1;
  float *da = (*ga)->storage->data, *db = (*gb)->storage->data;
  for (int64_t i = 0, m = em_numel(*ga); i < m; i++) {
    int64_t r = i, o[3] = {it.off[0], it.off[1], it.off[2]};
    for (int d = it.ndim - 1; d >= 0; d--) {
      int64_t q = r % it.shape[d];
      r /= it.shape[d];
      for (int k = 0; k < 3; k++) o[k] += q * it.st[k][d];
    }
    float gv = g->storage->data[o[0]], x = a->storage->data[o[1]], y = b->storage->data[o[2]];
    if (op == EM_BIN_POW) {
      da[i] = y == 0.0f ? 0.0f : gv * y * powf(x, y - 1.0f);
      db[i] = x > 0.0f ? gv * powf(x, y) * logf(x) : 0.0f;
    } else {
      float wa = x == y ? 0.5f : ((op == EM_BIN_MAX) == (x > y) ? 1.0f : 0.0f);
      da[i] = gv * wa;
      db[i] = gv * (1.0f - wa);
    }
  }
  return 0;
}

typedef struct { em_binop op; } binary_state;

static int binary_backward(em_node *n, em_tensor *g) {
  em_binop op = ((const binary_state *)em_node_state(n))->op;
  em_tensor *a = n->inputs[0], *b = n->inputs[1], *ga = NULL, *gb = NULL, *t = NULL;
  int rc = -1;
  switch (op) {
  case EM_BIN_ADD:
    if (em_node_accum(n, 0, g) || em_node_accum(n, 1, g)) return -1;
    return 0;
  case EM_BIN_SUB:
    if (em_node_accum(n, 0, g)) return -1;
    if (!b->requires_grad) return 0;
    gb = em_unary(EM_UN_NEG, g);
    break;
  case EM_BIN_MUL:
    if (a->requires_grad && !(ga = binary_raw(EM_BIN_MUL, g, b))) goto out;
    if (b->requires_grad && !(gb = binary_raw(EM_BIN_MUL, g, a))) goto out;
    break;
  case EM_BIN_DIV:   /* d(a/b) = g/b, -g a / b^2 */
    if (!(ga = binary_raw(EM_BIN_DIV, g, b))) goto out;
    if (b->requires_grad) {
      if (!(t = binary_raw(EM_BIN_MUL, ga, a)) || !(gb = binary_raw(EM_BIN_DIV, t, b))) goto out;
      for (int64_t i = 0, m = em_numel(gb); i < m; i++) gb->storage->data[i] = -gb->storage->data[i];
    }
    break;
  case EM_BIN_POW: case EM_BIN_MAX: case EM_BIN_MIN:
    if (pair_grads(op, g, a, b, &ga, &gb)) goto out;
    break;
  default:
    return 0;   /* comparisons have no gradient */
  }
  rc = em_node_accum_owned(n, 0, ga);
  rc |= em_node_accum_owned(n, 1, gb);
  ga = gb = NULL;
out:
  em_tensor_release(ga);
  em_tensor_release(gb);
  em_tensor_release(t);
  return rc;
}

em_tensor *em_binary(em_binop op, em_tensor *a, em_tensor *b) {
  em_tensor *out = binary_raw(op, a, b);
  if (out && op < EM_BIN_EQ) {
    em_tensor *in[2] = {a, b};
    binary_state st = {op};
    return em_node_record(out, em_binop_names[op], binary_backward, 2, in, &st, sizeof st);
  }
  return out;
}

em_tensor *em_binary_scalar(em_binop op, em_tensor *a, float s, int scalar_first) {
  em_tensor *c = em_tensor_scalar(s);
  if (!c) return NULL;
  em_tensor *r = scalar_first ? em_binary(op, c, a) : em_binary(op, a, c);
  em_tensor_release(c);
  return r;
}

/* ---- unary ---- */

static inline float gelu_f(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float softplus_f(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static inline float sigmoid_f(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

static void unary_kernel(em_unop op, float *y, const float *x, int64_t n) {
  switch (op) {
  case EM_UN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
  case EM_UN_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
  case EM_UN_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
  case EM_UN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case EM_UN_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case EM_UN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
  case EM_UN_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigmoid_f(x[i]); break;
  case EM_UN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
  case EM_UN_SIN: for (int64_t i = 0; i < n; i++) y[i] = sinf(x[i]); break;
  case EM_UN_COS: for (int64_t i = 0; i < n; i++) y[i] = cosf(x[i]); break;
  case EM_UN_SIGN: for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] > 0) - (x[i] < 0)); break;
  case EM_UN_GELU: for (int64_t i = 0; i < n; i++) y[i] = gelu_f(x[i]); break;
  case EM_UN_SQUARE: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
  case EM_UN_LOG1P: for (int64_t i = 0; i < n; i++) y[i] = log1pf(x[i]); break;
  case EM_UN_SOFTPLUS: for (int64_t i = 0; i < n; i++) y[i] = softplus_f(x[i]); break;
  default: break;
  }
}

/* dx = g * f'(x), from x and y = f(x) (both contiguous, same numel as g) */
static void unary_grad_kernel(em_unop op, float *restrict dx, const float *restrict g, const float *restrict x,
                              const float *restrict y, int64_t n) {
  switch (op) {
  case EM_UN_NEG: for (int64_t i = 0; i < n; i++) dx[i] = -g[i]; break;
  case EM_UN_EXP: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * y[i]; break;
  case EM_UN_LOG: for (int64_t i = 0; i < n; i++) dx[i] = g[i] / x[i]; break;
  case EM_UN_SQRT: for (int64_t i = 0; i < n; i++) dx[i] = g[i] / (2.0f * y[i]); break;
  case EM_UN_ABS: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * (float)((x[i] > 0) - (x[i] < 0)); break;
  case EM_UN_RELU:   /* g read unconditionally: a conditional load kept this a mispredicted branch */
    for (int64_t i = 0; i < n; i++) { const float gi = g[i]; dx[i] = x[i] > 0.0f ? gi : 0.0f; }
    break;
  case EM_UN_SIGMOID: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * y[i] * (1.0f - y[i]); break;
  case EM_UN_TANH: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * (1.0f - y[i] * y[i]); break;
  case EM_UN_SIN: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * cosf(x[i]); break;
  case EM_UN_COS: for (int64_t i = 0; i < n; i++) dx[i] = -g[i] * sinf(x[i]); break;
  case EM_UN_SIGN: for (int64_t i = 0; i < n; i++) dx[i] = 0.0f; break;
  case EM_UN_GELU:   /* d/dx x Phi(x) = Phi(x) + x phi(x) (Hendrycks & Gimpel 2016) */
    for (int64_t i = 0; i < n; i++) {
      float v = x[i], cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
      dx[i] = g[i] * (cdf + v * 0.3989422804014327f * expf(-0.5f * v * v));
    }
    break;
  case EM_UN_SQUARE: for (int64_t i = 0; i < n; i++) dx[i] = 2.0f * g[i] * x[i]; break;
  case EM_UN_LOG1P: for (int64_t i = 0; i < n; i++) dx[i] = g[i] / (1.0f + x[i]); break;
  case EM_UN_SOFTPLUS: for (int64_t i = 0; i < n; i++) dx[i] = g[i] * sigmoid_f(x[i]); break;
  default: break;
  }
}

static void unary_range(void *p, int64_t b, int64_t e, int worker) {
  (void)worker;
  ew_job *j = p;
  unary_kernel((em_unop)j->op, j->y + b, j->x + b, e - b);
}

static void unary_grad_range(void *p, int64_t b, int64_t e, int worker) {
  (void)worker;
  ew_job *j = p;
  unary_grad_kernel((em_unop)j->op, j->y + b, j->g + b, j->xs ? j->xs + b : NULL, j->ys ? j->ys + b : NULL, e - b);
}

typedef struct { em_unop op; } unary_state;

static int unary_backward(em_node *n, em_tensor *g) {
  em_unop op = ((const unary_state *)em_node_state(n))->op;
  em_tensor *gc = em_tensor_contiguous(g), *dx = NULL;
  int rc = -1;
  if (!gc) return -1;
  em_tensor *x = n->saved[0], *y = n->saved[1];
  if (!(dx = em_tensor_new_like(gc))) goto out;
  ew_job j = {.op = op, .y = dx->storage->data, .g = em_data(gc), .xs = x ? em_data(x) : NULL, .ys = y ? em_data(y) : NULL};
  em_parallel_for(em_numel(gc), PAR_GRAIN, unary_grad_range, &j);
  rc = em_node_accum_owned(n, 0, dx);
  dx = NULL;
out:
  em_tensor_release(gc);
  em_tensor_release(dx);
  return rc;
}

em_tensor *em_unary(em_unop op, em_tensor *a) {
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_new(a->ndim, a->shape);
  if (!out) { em_tensor_release(ac); return NULL; }
  ew_job j = {.op = op, .y = out->storage->data, .x = em_data(ac)};
  em_parallel_for(em_numel(a), PAR_GRAIN, unary_range, &j);
  unary_state st = {op};
  em_node *n;
  if (em_node_attach(&n, out, em_unop_names[op], unary_backward, 1, &a, &st, sizeof st) ||
      (n && (em_node_save(n, 0, ac) ||      /* x (contiguous) */
             em_node_save(n, 1, out)))) {   /* y = f(x): an alias, so no reference cycle through grad_fn */
    em_tensor_release(out);
    out = NULL;
  }
  em_tensor_release(ac);
  return out;
}

/* clamp and leaky_relu share a "piecewise linear" backward: slope where x is inside, other outside */
typedef struct { int is_clamp; float lo, hi, slope; } piecewise_state;

static int clamp_backward(em_node *n, em_tensor *g) {
  const piecewise_state *st = em_node_state(n);
  em_tensor *gc = em_tensor_contiguous(g), *dx = NULL;
  int rc = -1;
  if (!gc) return -1;
  if (!(dx = em_tensor_new_like(gc))) goto out;
  const float *x = em_data(n->saved[0]), *gp = em_data(gc);
  float *d = dx->storage->data;
  int64_t m = em_numel(gc);
  if (st->is_clamp) {   /* clamp: gradient passes where lo <= x <= hi, as PyTorch */
    float lo = st->lo, hi = st->hi;
    for (int64_t i = 0; i < m; i++) d[i] = (x[i] >= lo && x[i] <= hi) ? gp[i] : 0.0f;
  } else {
    float slope = st->slope;
    for (int64_t i = 0; i < m; i++) d[i] = x[i] > 0.0f ? gp[i] : slope * gp[i];
  }
  rc = em_node_accum_owned(n, 0, dx);
  dx = NULL;
out:
  em_tensor_release(gc);
  em_tensor_release(dx);
  return rc;
}

static em_tensor *piecewise(em_tensor *a, const piecewise_state *st) {
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_new(a->ndim, a->shape);
  if (!out) { em_tensor_release(ac); return NULL; }
  const float *x = em_data(ac);
  float *y = out->storage->data;
  int64_t m = em_numel(a);
  if (st->is_clamp) {
    /* min(max(x, lo), hi), as torch.clamp: hi everywhere when lo > hi; NaN stays NaN */
    const float lo = st->lo, hi = st->hi;
    for (int64_t i = 0; i < m; i++) {
      float v = x[i] < lo ? lo : x[i];
      y[i] = v > hi ? hi : v;
    }
  } else {
    const float slope = st->slope;
    for (int64_t i = 0; i < m; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
  }
  em_node *n;
  if (em_node_attach(&n, out, st->is_clamp ? "clamp" : "leaky_relu", clamp_backward, 1, &a, st, sizeof *st) ||
      (n && em_node_save(n, 0, ac))) {
    em_tensor_release(out);
    out = NULL;
  }
  em_tensor_release(ac);
  return out;
}

em_tensor *em_clamp(em_tensor *a, float lo, float hi) {
  piecewise_state st = {.is_clamp = 1, .lo = lo, .hi = hi};
  return piecewise(a, &st);
}

em_tensor *em_leaky_relu(em_tensor *a, float slope) {
  piecewise_state st = {.is_clamp = 0, .slope = slope};
  return piecewise(a, &st);
}

static void where_row(void *ctx, float *out, const float *p[3], const int64_t s[3], int64_t len) {
  (void)ctx;
  for (int64_t i = 0; i < len; i++) out[i] = p[0][i * s[0]] != 0.0f ? p[1][i * s[1]] : p[2][i * s[2]];
}

static int where_backward(em_node *n, em_tensor *g) {
  em_tensor *zero = em_tensor_scalar(0.0f);
  if (!zero) return -1;
  em_tensor *ts[3] = {n->inputs[0], g, zero};
  em_tensor *ga = em_where(ts[0], g, zero), *gb = ga ? em_where(ts[0], zero, g) : NULL;
  int rc = (!ga || !gb || em_node_accum(n, 1, ga) || em_node_accum(n, 2, gb)) ? -1 : 0;
  em_tensor_release(ga);
  em_tensor_release(gb);
  em_tensor_release(zero);
  return rc;
}

em_tensor *em_where(em_tensor *cond, em_tensor *a, em_tensor *b) {
  em_tensor *ts[3] = {cond, a, b};
  bcast it;
  if (broadcast("where", 3, ts, &it)) return NULL;
  em_tensor *out = em_tensor_new(it.ndim, it.shape);
  if (!out) return NULL;
  for_rows(&it, 3, ts, out->storage->data, where_row, NULL);
  return em_node_record(out, "where", where_backward, 3, ts, NULL, 0);
}

/* ---- summing a gradient back to the shape of a broadcast input ---- */

static void sum_to_row(void *ctx, float *out, const float *p[3], const int64_t s[3], int64_t len) {
  (void)out;
  /* ctx is the destination; p[0] the source row, p[1] the destination row (writable, stride s[1]) */
  (void)ctx;
  float *d = (float *)p[1];
  const float *g = p[0];
  if (s[1] == 0) { float acc = 0; for (int64_t i = 0; i < len; i++) acc += g[i * s[0]]; d[0] += acc; }
  else for (int64_t i = 0; i < len; i++) d[i * s[1]] += g[i * s[0]];
}

em_tensor *em_sum_to_shape(em_tensor *g, int ndim, const int64_t *shape) {
  if (g->ndim == ndim && !memcmp(g->shape, shape, (size_t)ndim * sizeof *shape)) {
    em_tensor_retain(g);
    return g;
  }
  em_tensor *r = em_tensor_zeros(ndim, shape);
  if (!r) return NULL;
  em_tensor *view = em_tensor_expand_raw(r, g->ndim, g->shape);   /* stride 0 where r is broadcast */
  if (!view) { em_tensor_release(r); return NULL; }
  if (ndim > g->ndim) {
    em_fail("internal: gradient has fewer dims than its input");
    em_tensor_release(view); em_tensor_release(r); return NULL;
  }
  em_tensor *ts[2] = {g, view};
  bcast it;
  if (broadcast("sum_to_shape", 2, ts, &it) == 0) for_rows(&it, 2, ts, NULL, sum_to_row, NULL);
  em_tensor_release(view);
  return r;
}
