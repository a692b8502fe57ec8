/* matmul.c - matrix products as torch.matmul defines them (1-d, 2-d, batched with broadcast batch dims),
   through em_sgemm; transposed views go to BLAS as transpose flags rather than copies. */
#include <stdlib.h>
#include <string.h>
#include "ops.h"
#include "autograd.h"
#include "blas.h"

/* how BLAS can read the last two dims of t: row-major (trans 0) or column-major (trans 1) */
static int gemm_layout(const em_tensor *t, int *trans, int64_t *ld) {
  int nd = t->ndim;
  int64_t rs = t->stride[nd - 2], cs = t->stride[nd - 1], rows = t->shape[nd - 2], cols = t->shape[nd - 1];
  if ((cs == 1 || cols == 1) && rs >= (cols > 1 ? cols : 1)) { *trans = 0; *ld = rs > 0 ? rs : 1; return 1; }
  if ((rs == 1 || rows == 1) && cs >= (rows > 1 ? rows : 1)) { *trans = 1; *ld = cs > 0 ? cs : 1; return 1; }
  return 0;
}

static int matmul_backward(em_node *n, em_tensor *g);

/* both operands at least 2-d */
static em_tensor *matmul_nd(em_tensor *a, em_tensor *b) {
  char sa[EM_SHAPE_BUF], sb[EM_SHAPE_BUF];
  int an = a->ndim, bn = b->ndim;
  int64_t m = a->shape[an - 2], k = a->shape[an - 1], k2 = b->shape[bn - 2], n = b->shape[bn - 1];
  if (k != k2) {
    em_fail_kind(EM_ESHAPE, "matmul: shapes %s and %s cannot be multiplied (%lld columns vs %lld rows)",
            em_tensor_shape_str(sa, sizeof sa, a), em_tensor_shape_str(sb, sizeof sb, b), (long long)k, (long long)k2);
    return NULL;
  }
  /* broadcast the batch dims */
  int bd = (an > bn ? an : bn) - 2;
  int64_t shape[EM_MAX_DIMS], sta[EM_MAX_DIMS], stb[EM_MAX_DIMS];
  for (int i = 0; i < bd; i++) {
    int ia = i - (bd - (an - 2)), ib = i - (bd - (bn - 2));
    int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      em_fail_kind(EM_ESHAPE, "matmul: batch dimensions of %s and %s are not broadcastable",
              em_tensor_shape_str(sa, sizeof sa, a), em_tensor_shape_str(sb, sizeof sb, b));
      return NULL;
    }
    shape[i] = da > db ? da : db;
  }
  shape[bd] = m;
  shape[bd + 1] = n;
  if (bd + 2 > EM_MAX_DIMS) { em_fail_kind(EM_ESHAPE, "matmul: too many dimensions"); return NULL; }
  em_tensor *out = em_tensor_new(bd + 2, shape);
  if (!out) return NULL;
  /* the operands as BLAS can read them: as they are, or a contiguous copy */
  int ta = 0, tb = 0;
  int64_t lda = 1, ldb = 1;
  em_tensor *ac = gemm_layout(a, &ta, &lda) ? (em_tensor_retain(a), a) : em_tensor_clone(a);
  em_tensor *bc = gemm_layout(b, &tb, &ldb) ? (em_tensor_retain(b), b) : em_tensor_clone(b);
  if (!ac || !bc) {
    em_tensor_release(ac);
    em_tensor_release(bc);
    em_tensor_release(out);
    return NULL;
  }
  if (ac != a) gemm_layout(ac, &ta, &lda);
  if (bc != b) gemm_layout(bc, &tb, &ldb);
  for (int i = 0; i < bd; i++) {   /* batch strides; 0 where an operand is broadcast */
    int ia = i - (bd - (an - 2)), ib = i - (bd - (bn - 2));
    sta[i] = (ia >= 0 && ac->shape[ia] != 1) ? ac->stride[ia] : 0;
    stb[i] = (ib >= 0 && bc->shape[ib] != 1) ? bc->stride[ib] : 0;
  }
  {
    int64_t batches = em_shape_numel(bd, shape), idx[EM_MAX_DIMS] = {0};
    float *c = out->storage->data;
    const float *A = em_data(ac), *B = em_data(bc);
    int64_t oa = 0, ob = 0;
    /* a plain row-major stack of a-matrices times one b: one GEMM with m * batches rows */
    int fold = bd > 0 && !ta && lda == k && em_is_contiguous(ac) && (bn == 2);
    if (fold) {
      em_sgemm(0, tb, (int)(m * batches), (int)n, (int)k, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, c, (int)n);
    } else {
      for (int64_t bi = 0; bi < batches; bi++) {
        em_sgemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, A + oa, (int)lda, B + ob, (int)ldb, 0.0f, c + bi * m * n, (int)n);
        for (int d = bd - 1; d >= 0; d--) {
          oa += sta[d]; ob += stb[d];
          if (++idx[d] < shape[d]) break;
          oa -= idx[d] * sta[d]; ob -= idx[d] * stb[d];
          idx[d] = 0;
        }
      }
    }
  }
  em_tensor_release(ac);
  em_tensor_release(bc);
  em_tensor *in[2] = {a, b};
  return em_node_record(out, "matmul", matmul_backward, 2, in, NULL, 0);
}

/* dA = g B^T, dB = A^T g (batch broadcasting undone by accumulate) */
static int matmul_backward(em_node *n, em_tensor *g) {
  em_tensor *a = n->inputs[0], *b = n->inputs[1];
  int rc = 0;
  if (a->requires_grad) {
    em_tensor *bt = em_tensor_transpose_raw(b, b->ndim - 2, b->ndim - 1);
    em_tensor *ga = bt ? matmul_nd(g, bt) : NULL;
    rc = ga ? em_node_accum_owned(n, 0, ga) : -1;
    em_tensor_release(bt);
  }
  if (!rc && b->requires_grad) {
    em_tensor *at = em_tensor_transpose_raw(a, a->ndim - 2, a->ndim - 1);
    em_tensor *gb = at ? matmul_nd(at, g) : NULL;
    rc = gb ? em_node_accum_owned(n, 1, gb) : -1;
    em_tensor_release(at);
  }
  return rc;
}

em_tensor *em_matmul(em_tensor *a, em_tensor *b) {
  char sa[EM_SHAPE_BUF], sb[EM_SHAPE_BUF];
  if (a->ndim == 0 || b->ndim == 0) {
    em_fail_kind(EM_ESHAPE, "matmul: both arguments need at least 1 dimension (got %s and %s)",
            em_tensor_shape_str(sa, sizeof sa, a), em_tensor_shape_str(sb, sizeof sb, b));
    return NULL;
  }
  if (a->ndim >= 2 && b->ndim >= 2) return matmul_nd(a, b);
  /* 1-d operands become matrices and the added dim is removed afterwards, as torch.matmul does */
  em_tensor *a2 = a->ndim == 1 ? em_unsqueeze(a, 0) : (em_tensor_retain(a), a);
  em_tensor *b2 = b->ndim == 1 ? em_unsqueeze(b, 1) : (em_tensor_retain(b), b);
  em_tensor *r = (a2 && b2) ? matmul_nd(a2, b2) : NULL, *out = r;
  if (r && b->ndim == 1) { out = em_squeeze(r, r->ndim - 1); em_tensor_release(r); r = out; }
  if (r && a->ndim == 1) { out = em_squeeze(r, r->ndim - (b->ndim == 1 ? 1 : 2)); em_tensor_release(r); }
  if (!out && !*em_error()) em_fail_kind(EM_ENOMEM, "matmul: out of memory");
  if (!a2 || !b2 || !r) {
    /* re-phrase shape errors in terms of the user's shapes */
    if (strstr(em_error(), "cannot be multiplied"))
      em_fail_kind(EM_ESHAPE, "matmul: shapes %s and %s cannot be multiplied",
              em_tensor_shape_str(sa, sizeof sa, a), em_tensor_shape_str(sb, sizeof sb, b));
  }
  em_tensor_release(a2);
  em_tensor_release(b2);
  return out;
}
