/* shape.c - differentiable views and shape ops: reshape, transpose, permute, narrow, select, expand,
   (un)squeeze, cat, index_select, contiguous. Views share storage; their backward maps the gradient
   back onto the input's shape. */
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "autograd.h"

static int accum_reshaped(em_node *n, em_tensor *g) {
  em_tensor *in = n->inputs[0];
  em_tensor *gc = em_tensor_contiguous(g);
  if (!gc) return -1;
  em_tensor *v = em_tensor_view_raw(gc, in->ndim, in->shape);
  em_tensor_release(gc);
  if (!v) return -1;
  int rc = em_node_accum(n, 0, v);
  em_tensor_release(v);
  return rc;
}

em_tensor *em_reshape(em_tensor *a, int ndim, const int64_t *shape) {
  int64_t s[EM_MAX_DIMS];
  int infer = -1;
  int64_t total = em_numel(a);
  char sa[EM_SHAPE_BUF], sb[EM_SHAPE_BUF];
  if (ndim < 0 || ndim > EM_MAX_DIMS) { em_fail("reshape: a tensor has 0 to %d dimensions", EM_MAX_DIMS); return NULL; }
  for (int i = 0; i < ndim; i++) {
    s[i] = shape[i];
    if (s[i] == -1) {
      if (infer >= 0) { em_fail("reshape: only one size may be -1"); return NULL; }
      infer = i;
      s[i] = 1;   /* counted as 1 until it is known */
    } else if (s[i] < 0) {
      em_fail("reshape: invalid size %lld", (long long)s[i]);
      return NULL;
    }
  }
  /* bounds the product of the known sizes, so the arithmetic below cannot overflow */
  int too_large = em_check_shape("reshape", ndim, s);
  if (too_large && infer < 0) return NULL;
  int64_t known = too_large ? 0 : em_shape_numel(ndim, s);
  if (infer >= 0 && !too_large) s[infer] = known ? total / known : 0;
  if (too_large || em_shape_numel(ndim, s) != total || (infer >= 0 && known && total % known)) {
    em_fail_kind(EM_ESHAPE, "reshape: cannot view %s (%lld elements) as %s", em_tensor_shape_str(sa, sizeof sa, a),
            (long long)total, em_shape_str(sb, sizeof sb, ndim, shape));
    return NULL;
  }
  em_tensor *ac = em_tensor_contiguous(a);
  if (!ac) return NULL;
  em_tensor *out = em_tensor_view_raw(ac, ndim, s);
  em_tensor_release(ac);
  return em_node_record(out, "reshape", accum_reshaped, 1, &a, NULL, 0);
}

typedef struct { int perm[EM_MAX_DIMS]; } permute_state;

static int permute_backward(em_node *n, em_tensor *g) {
  const permute_state *st = em_node_state(n);
  int inv[EM_MAX_DIMS];
  for (int i = 0; i < n->inputs[0]->ndim; i++) inv[st->perm[i]] = i;
  em_tensor *v = em_tensor_permute_raw(g, inv);
  if (!v) return -1;
  int rc = em_node_accum(n, 0, v);
  em_tensor_release(v);
  return rc;
}

em_tensor *em_permute(em_tensor *a, const int *perm) {
  int seen[EM_MAX_DIMS] = {0};
  for (int i = 0; i < a->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= a->ndim || seen[perm[i]]++) {
      em_fail_kind(EM_ESHAPE, "permute: not a permutation of the %d dimensions", a->ndim);
      return NULL;
    }
  }
  permute_state st;
  memcpy(st.perm, perm, (size_t)a->ndim * sizeof *perm);
  return em_node_record(em_tensor_permute_raw(a, perm), "permute", permute_backward, 1, &a, &st, sizeof st);
}

em_tensor *em_transpose(em_tensor *a, int d0, int d1) {
  if (a->ndim < 2 && d0 == d1) { em_tensor_retain(a); return a; }
  int x = em_wrap_dim("transpose", d0, a->ndim), y = x < 0 ? -1 : em_wrap_dim("transpose", d1, a->ndim);
  if (x < 0 || y < 0) return NULL;
  int perm[EM_MAX_DIMS];
  for (int i = 0; i < a->ndim; i++) perm[i] = i;
  perm[x] = y;
  perm[y] = x;
  return em_permute(a, perm);
}

/* narrow and select: the gradient lands in the matching slice of a zero tensor */
typedef struct { int select, dim; int64_t start, len; } slice_state;   /* select: start is the index */

static int slice_backward(em_node *n, em_tensor *g) {
  const slice_state *st = em_node_state(n);
  em_tensor *in = n->inputs[0];
  em_tensor *z = em_tensor_zeros(in->ndim, in->shape);
  if (!z) return -1;
  em_tensor *v = st->select ? em_tensor_select_raw(z, st->dim, st->start)
                            : em_tensor_narrow_raw(z, st->dim, st->start, st->len);
  int rc = (!v || em_tensor_copy_(v, g)) ? -1 : em_node_accum(n, 0, z);
  em_tensor_release(v);
  em_tensor_release(z);
  return rc;
}

em_tensor *em_narrow(em_tensor *a, int dim, int64_t start, int64_t len) {
  int d = em_wrap_dim("narrow", dim, a->ndim);
  if (d < 0) return NULL;
  if (a->ndim == 0) { em_fail_kind(EM_ESHAPE, "narrow: cannot narrow a 0-d tensor"); return NULL; }
  /* compared without forming start + len, which overflows for a huge len */
  if (start < 0 || len < 0 || start > a->shape[d] || len > a->shape[d] - start) {
    char sb[EM_INDEX_BUF];
    em_fail("narrow: start %s with length %lld is outside dimension %d of size %lld",
            em_index1_str(sb, sizeof sb, start), (long long)len, d + 1, (long long)a->shape[d]);
    return NULL;
  }
  slice_state st = {.select = 0, .dim = d, .start = start, .len = len};
  return em_node_record(em_tensor_narrow_raw(a, d, start, len), "narrow", slice_backward, 1, &a, &st, sizeof st);
}

em_tensor *em_select(em_tensor *a, int dim, int64_t index) {
  if (a->ndim == 0) { em_fail_kind(EM_ESHAPE, "select: cannot index a 0-d tensor"); return NULL; }
  int d = em_wrap_dim("select", dim, a->ndim);
  if (d < 0) return NULL;
  if (index < 0 || index >= a->shape[d]) {
    char ib[EM_INDEX_BUF];
    em_fail("select: index %s is out of range for dimension %d of size %lld", em_index1_str(ib, sizeof ib, index),
            d + 1, (long long)a->shape[d]);
    return NULL;
  }
  slice_state st = {.select = 1, .dim = d, .start = index};
  return em_node_record(em_tensor_select_raw(a, d, index), "select", slice_backward, 1, &a, &st, sizeof st);
}

static int pass_backward(em_node *n, em_tensor *g) { return em_node_accum(n, 0, g); }

em_tensor *em_expand(em_tensor *a, int ndim, const int64_t *shape) {
  char sa[EM_SHAPE_BUF], sb[EM_SHAPE_BUF];
  if (ndim < a->ndim || ndim > EM_MAX_DIMS) goto bad;
  int64_t s[EM_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    int j = i - (ndim - a->ndim);
    s[i] = shape[i] == -1 && j >= 0 ? a->shape[j] : shape[i];
    if (s[i] < 0) goto bad;
    if (j >= 0 && a->shape[j] != 1 && a->shape[j] != s[i]) goto bad;
  }
  if (em_check_shape("expand", ndim, s)) return NULL;
  /* accumulate sums the gradient over the expanded dims */
  return em_node_record(em_tensor_expand_raw(a, ndim, s), "expand", pass_backward, 1, &a, NULL, 0);
bad:
  em_fail_kind(EM_ESHAPE, "expand: cannot expand %s to %s", em_tensor_shape_str(sa, sizeof sa, a), em_shape_str(sb, sizeof sb, ndim, shape));
  return NULL;
}

em_tensor *em_unsqueeze(em_tensor *a, int dim) {
  int d = dim < 0 ? dim + a->ndim + 1 : dim;
  if (d < 0 || d > a->ndim || a->ndim >= EM_MAX_DIMS) {
    em_fail_kind(EM_ESHAPE, "unsqueeze: dimension %d out of range for a %d-d tensor", dim < 0 ? dim : dim + 1, a->ndim);
    return NULL;
  }
  int64_t s[EM_MAX_DIMS];
  for (int i = 0, j = 0; i <= a->ndim; i++) s[i] = i == d ? 1 : a->shape[j++];
  return em_reshape(a, a->ndim + 1, s);
}

em_tensor *em_squeeze(em_tensor *a, int dim) {
  int64_t s[EM_MAX_DIMS];
  int nd = 0;
  int d = dim == EM_ALL ? EM_ALL : em_wrap_dim("squeeze", dim, a->ndim);
  if (d == -1) return NULL;
  for (int i = 0; i < a->ndim; i++)
    if (!((d == EM_ALL || d == i) && a->shape[i] == 1)) s[nd++] = a->shape[i];
  return em_reshape(a, nd, s);
}

em_tensor *em_contiguous(em_tensor *a) {
  if (em_is_contiguous(a)) { em_tensor_retain(a); return a; }
  return em_node_record(em_tensor_clone(a), "contiguous", pass_backward, 1, &a, NULL, 0);
}

/* each input gets its slice of g along the cat dim */
typedef struct { int dim; } cat_state;

static int cat_backward(em_node *n, em_tensor *g) {
  const int d = ((const cat_state *)em_node_state(n))->dim;
  int64_t start = 0;
  for (int k = 0; k < n->ninputs; k++) {
    em_tensor *in = n->inputs[k];
    em_tensor *v = em_tensor_narrow_raw(g, d, start, in->shape[d]);
    start += in->shape[d];
    if (!v) return -1;
    int rc = em_node_accum(n, k, v);
    em_tensor_release(v);
    if (rc) return rc;
  }
  return 0;
}

em_tensor *em_cat(int n, em_tensor *const *ts, int dim) {
  char sa[EM_SHAPE_BUF], sb[EM_SHAPE_BUF];
  if (n < 1) { em_fail("cat: no tensors given"); return NULL; }
  if (n > EM_NODE_MAX_IN) { em_fail("cat: at most %d tensors at a time", EM_NODE_MAX_IN); return NULL; }
  for (int k = 0; k < n; k++)   /* as PyTorch: there is no dimension to join them along */
    if (ts[k]->ndim == 0) { em_fail_kind(EM_ESHAPE, "cat: zero-dimensional tensor (at position %d) cannot be concatenated", k + 1); return NULL; }
  int d = em_wrap_dim("cat", dim, ts[0]->ndim);
  if (d < 0) return NULL;
  int64_t shape[EM_MAX_DIMS];
  memcpy(shape, ts[0]->shape, sizeof shape);
  shape[d] = 0;
  for (int k = 0; k < n; k++) {
    int bad = ts[k]->ndim != ts[0]->ndim;
    for (int i = 0; !bad && i < ts[0]->ndim; i++) bad = i != d && ts[k]->shape[i] != ts[0]->shape[i];
    if (bad) {
      em_fail_kind(EM_ESHAPE, "cat: shapes %s and %s differ outside dimension %d", em_tensor_shape_str(sa, sizeof sa, ts[0]),
              em_tensor_shape_str(sb, sizeof sb, ts[k]), d + 1);
      return NULL;
    }
    shape[d] += ts[k]->shape[d];
  }
  em_tensor *out = em_tensor_new(ts[0]->ndim, shape);
  if (!out) return NULL;
  int64_t start = 0;
  for (int k = 0; k < n; k++) {
    em_tensor *v = em_tensor_narrow_raw(out, d, start, ts[k]->shape[d]);
    if (!v || em_tensor_copy_(v, ts[k])) { em_tensor_release(v); em_tensor_release(out); return NULL; }
    em_tensor_release(v);
    start += ts[k]->shape[d];
  }
  cat_state st = {d};
  return em_node_record(out, "cat", cat_backward, n, ts, &st, sizeof st);
}

static int index_select_backward(em_node *n, em_tensor *g) {
  em_tensor *in = n->inputs[0], *idx = n->saved[0];
  em_tensor *gc = em_tensor_contiguous(g);
  em_tensor *z = em_tensor_zeros(in->ndim, in->shape);
  int rc = -1;
  if (gc && z) {
    int64_t rows = em_numel(idx), row = em_numel(in) / (in->shape[0] ? in->shape[0] : 1);
    const float *ip = em_data(idx), *gp = em_data(gc);
    for (int64_t r = 0; r < rows; r++) {
      float *dst = z->storage->data + (int64_t)ip[r] * row;
      for (int64_t j = 0; j < row; j++) dst[j] += gp[r * row + j];
    }
    rc = em_node_accum(n, 0, z);
  }
  em_tensor_release(gc);
  em_tensor_release(z);
  return rc;
}

em_tensor *em_index_select(em_tensor *a, int dim, em_tensor *index) {
  if (dim != 0) { em_fail("index_select: only dimension 1 is supported"); return NULL; }
  if (a->ndim == 0) { em_fail_kind(EM_ESHAPE, "index_select: cannot index a 0-d tensor"); return NULL; }
  em_tensor *ic = em_tensor_contiguous(index);
  if (!ic) return NULL;
  int64_t rows = em_numel(ic), n0 = a->shape[0];
  const float *ip = em_data(ic);
  for (int64_t r = 0; r < rows; r++)
    if (!(ip[r] >= 0 && ip[r] < (float)n0) || ip[r] != (float)(int64_t)ip[r]) {
      em_fail("index_select: index %g is out of range 1..%lld", (double)ip[r] + 1, (long long)n0);
      em_tensor_release(ic);
      return NULL;
    }
  int64_t shape[EM_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[0] = rows;
  em_tensor *ac = em_tensor_contiguous(a), *out = ac ? em_tensor_new(a->ndim, shape) : NULL;
  if (out) {
    int64_t row = n0 ? em_numel(a) / n0 : 0;
    for (int64_t r = 0; r < rows; r++)
      memcpy(out->storage->data + r * row, em_data(ac) + (int64_t)ip[r] * row, (size_t)row * sizeof(float));
    em_node *nd;
    if (em_node_attach(&nd, out, "index_select", index_select_backward, 1, &a, NULL, 0) ||
        (nd && em_node_save(nd, 0, ic))) {
      em_tensor_release(out);
      out = NULL;
    }
  }
  em_tensor_release(ac);
  em_tensor_release(ic);
  return out;
}
