/* tensor.c - storage, tensor headers, creation, raw views and copies. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "tensor.h"
#include "autograd.h"

/* bytes held by live tensors; the Lua binding reports their growth to the collector */
static __thread int64_t live_bytes;
int64_t em_live_bytes(void) { return live_bytes; }

/* A new tensor is one allocation: [header][storage][data]. Views get their own small header and share
   the storage; the block is freed when the storage's last reference goes, even if the first header
   died earlier. Blocks for tensors of up to SMALL_N elements are recycled through a per-thread free
   list: a training loop's many tiny tensors (losses, scalars, biases) then cost no malloc at all. */
#define SMALL_N 64
#define FREE_MAX 512
#define HEAD_BYTES (((sizeof(em_tensor) + sizeof(em_storage)) + 63) & ~(size_t)63)
#define SMALL_BYTES (HEAD_BYTES + SMALL_N * sizeof(float))
static __thread void *free_blocks[FREE_MAX];
static __thread int nfree;

/* Large blocks are kept too, up to BIG_KEEP of them and BIG_BYTES in all, and reused on an exact size
   match: a training step allocates the same activation sizes every time, and giving them back to the
   kernel each step cost ~7% of a LeNet step in page faults and page clearing. */
#define BIG_KEEP 32
#define BIG_BYTES ((size_t)256 << 20)
static __thread struct { void *p; size_t bytes; } big[BIG_KEEP];
static __thread int nbig;
static __thread size_t big_total;

static void *big_take(size_t bytes) {
  for (int i = nbig - 1; i >= 0; i--)
    if (big[i].bytes == bytes) {
      void *p = big[i].p;
      big[i] = big[--nbig];
      big_total -= bytes;
      return p;
    }
  return NULL;
}

static void big_keep(void *p, size_t bytes) {
  if (bytes > BIG_BYTES / 4) { free(p); return; }
  while (nbig > 0 && (nbig == BIG_KEEP || big_total + bytes > BIG_BYTES)) {   /* drop the oldest */
    free(big[0].p);
    big_total -= big[0].bytes;
    memmove(big, big + 1, (size_t)(nbig - 1) * sizeof big[0]);
    nbig--;
  }
  big[nbig].p = p;
  big[nbig].bytes = bytes;
  nbig++;
  big_total += bytes;
}

static void block_free(em_storage *s) {
  void *block = (char *)s - sizeof(em_tensor);
  live_bytes -= (int64_t)s->bytes;
  if (s->small) {
    if (nfree < FREE_MAX) free_blocks[nfree++] = block;
    else free(block);
  } else big_keep(block, s->bytes);
}

static void storage_release(em_storage *s) {
  if (s && --s->refs == 0) block_free(s);
}

static em_tensor *tensor_alloc(int64_t n) {
  void *block = NULL;
  int small = n <= SMALL_N;
  size_t bytes = small ? SMALL_BYTES : HEAD_BYTES + (size_t)n * sizeof(float);
  if (small && nfree > 0) block = free_blocks[--nfree];
  else if (!small && (block = big_take(bytes)) != NULL) {}
  else if (posix_memalign(&block, 64, bytes) != 0) block = NULL;
  if (!block) {
    em_fail_kind(EM_ENOMEM, "out of memory allocating %lld floats", (long long)n);
    return NULL;
  }
  em_tensor *t = block;
  em_storage *s = (em_storage *)((char *)block + sizeof(em_tensor));
  memset(t, 0, sizeof *t);
  s->data = (float *)((char *)block + HEAD_BYTES);
  s->size = n;
  s->refs = 1;
  s->small = small;
  s->bytes = bytes;
  t->storage = s;
  t->refs = 1;
  t->inline_header = 1;
  live_bytes += (int64_t)bytes;
  return t;
}

int64_t em_shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

int em_check_shape(const char *fn, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > EM_MAX_DIMS)
    return em_fail("%s: a tensor has 0 to %d dimensions (got %d)", fn, EM_MAX_DIMS, ndim);
  int empty = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return em_fail("%s: size of dimension %d is negative (%lld)", fn, i + 1, (long long)shape[i]);
    empty |= shape[i] == 0;
  }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    int64_t s = shape[i] ? shape[i] : 1;
    if (n > EM_MAX_NUMEL / s) {
      char sb[EM_SHAPE_BUF];
      em_shape_str(sb, sizeof sb, ndim, shape);
      if (empty) return em_fail("%s: shape %s is too large (its sizes other than 0 multiply to more than 2^40)", fn, sb);
      return em_fail("%s: shape %s is too large (more than 2^40 elements)", fn, sb);
    }
    n *= s;
  }
  return 0;
}

em_tensor *em_tensor_new(int ndim, const int64_t *shape) {
  if (em_check_shape("tensor", ndim, shape)) return NULL;
  em_tensor *t = tensor_alloc(em_shape_numel(ndim, shape));
  if (!t) return NULL;
  t->ndim = ndim;
  int64_t st = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    t->shape[i] = shape[i];
    t->stride[i] = st;
    st *= shape[i];
  }
  return t;
}

em_tensor *em_tensor_full(int ndim, const int64_t *shape, float v) {
  em_tensor *t = em_tensor_new(ndim, shape);
  if (t) em_tensor_fill_(t, v);
  return t;
}

em_tensor *em_tensor_zeros(int ndim, const int64_t *shape) {
  em_tensor *t = em_tensor_new(ndim, shape);
  if (t) memset(t->storage->data, 0, (size_t)em_numel(t) * sizeof(float));
  return t;
}

em_tensor *em_tensor_scalar(float v) { return em_tensor_full(0, NULL, v); }
em_tensor *em_tensor_new_like(const em_tensor *t) { return em_tensor_new(t->ndim, t->shape); }
em_tensor *em_tensor_zeros_like(const em_tensor *t) { return em_tensor_zeros(t->ndim, t->shape); }

em_tensor *em_tensor_arange(double start, double stop, double step) {
  if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
    em_fail("arange: step must be non-zero and bounds finite (got %g, %g, %g)", start, stop, step);
    return NULL;
  }
  double span = (stop - start) / step;
  /* checked as a double: the cast of 1e30 to an integer is undefined (it came out negative) */
  if (!(span <= (double)EM_MAX_NUMEL)) {
    em_fail("arange: from %g to %g with step %g makes %.3g elements, more than 2^40", start, stop, step, span);
    return NULL;
  }
  int64_t n = span > 0 ? (int64_t)ceil(span - 1e-9) : 0;
  em_tensor *t = em_tensor_new(1, &n);
  if (!t) return NULL;
  for (int64_t i = 0; i < n; i++) t->storage->data[i] = (float)(start + (double)i * step);
  return t;
}

void em_tensor_retain(em_tensor *t) { if (t) t->refs++; }

void em_tensor_release(em_tensor *t) {
  if (!t || --t->refs > 0) return;
  em_tensor_release(t->grad);
  em_node_release(t->grad_fn);
  if (t->inline_header) { storage_release(t->storage); return; }   /* the block goes with the storage */
  storage_release(t->storage);
  live_bytes -= (int64_t)sizeof *t;
  free(t);
}

int64_t em_numel(const em_tensor *t) { return em_shape_numel(t->ndim, t->shape); }

int em_is_contiguous(const em_tensor *t) {
  int64_t st = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != st) return 0;
    st *= t->shape[i];
  }
  return 1;
}

int em_same_shape(const em_tensor *a, const em_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

float em_get_flat(const em_tensor *t, int64_t i) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t s = t->shape[d];
    off += (i % s) * t->stride[d];
    i /= s;
  }
  return t->storage->data[off];
}

char *em_tensor_shape_str(char *buf, size_t len, const em_tensor *t) {
  return em_shape_str(buf, len, t->ndim, t->shape);
}

/* a header sharing t's storage; the caller sets shape/stride/offset */
static em_tensor *view_of(em_tensor *t) {
  em_tensor *v = calloc(1, sizeof *v);
  if (!v) { em_fail_kind(EM_ENOMEM, "out of memory"); return NULL; }
  live_bytes += (int64_t)sizeof *v;
  v->refs = 1;
  v->storage = t->storage;
  t->storage->refs++;
  v->offset = t->offset;
  v->ndim = t->ndim;
  memcpy(v->shape, t->shape, sizeof v->shape);
  memcpy(v->stride, t->stride, sizeof v->stride);
  return v;
}

em_tensor *em_tensor_alias(em_tensor *t) { return view_of(t); }

em_tensor *em_tensor_view_raw(em_tensor *t, int ndim, const int64_t *shape) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  v->ndim = ndim;
  int64_t st = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    v->shape[i] = shape[i];
    v->stride[i] = st;
    st *= shape[i];
  }
  return v;
}

em_tensor *em_tensor_transpose_raw(em_tensor *t, int d0, int d1) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  int64_t s = v->shape[d0]; v->shape[d0] = v->shape[d1]; v->shape[d1] = s;
  s = v->stride[d0]; v->stride[d0] = v->stride[d1]; v->stride[d1] = s;
  return v;
}

em_tensor *em_tensor_permute_raw(em_tensor *t, const int *perm) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  for (int i = 0; i < t->ndim; i++) {
    v->shape[i] = t->shape[perm[i]];
    v->stride[i] = t->stride[perm[i]];
  }
  return v;
}

em_tensor *em_tensor_narrow_raw(em_tensor *t, int dim, int64_t start, int64_t len) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  v->offset += start * t->stride[dim];
  v->shape[dim] = len;
  return v;
}

em_tensor *em_tensor_select_raw(em_tensor *t, int dim, int64_t index) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  v->offset += index * t->stride[dim];
  for (int i = dim; i < t->ndim - 1; i++) {
    v->shape[i] = t->shape[i + 1];
    v->stride[i] = t->stride[i + 1];
  }
  v->ndim = t->ndim - 1;
  return v;
}

em_tensor *em_tensor_expand_raw(em_tensor *t, int ndim, const int64_t *shape) {
  em_tensor *v = view_of(t);
  if (!v) return NULL;
  v->ndim = ndim;
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - lead;
    v->shape[i] = shape[i];
    v->stride[i] = (j >= 0 && t->shape[j] == shape[i]) ? t->stride[j] : 0;
  }
  return v;
}

/* copies src's elements in row-major order into contiguous dst memory */
static void gather(float *dst, const em_tensor *src) {
  int64_t n = em_numel(src);
  if (n == 0) return;
  const float *s = em_data(src);
  int nd = src->ndim;
  if (em_is_contiguous(src)) { memcpy(dst, s, (size_t)n * sizeof(float)); return; }
  if (nd == 0) { dst[0] = s[0]; return; }
  int64_t idx[EM_MAX_DIMS] = {0};
  int64_t inner = src->shape[nd - 1], ist = src->stride[nd - 1];
  int64_t off = 0;
  for (int64_t done = 0; done < n; done += inner) {
    const float *p = s + off;
    if (ist == 1) memcpy(dst, p, (size_t)inner * sizeof(float));
    else for (int64_t k = 0; k < inner; k++) dst[k] = p[k * ist];
    dst += inner;
    for (int d = nd - 2; d >= 0; d--) {
      off += src->stride[d];
      if (++idx[d] < src->shape[d]) break;
      off -= idx[d] * src->stride[d];
      idx[d] = 0;
    }
  }
}

em_tensor *em_tensor_clone(const em_tensor *t) {
  em_tensor *c = em_tensor_new(t->ndim, t->shape);
  if (c) gather(c->storage->data, t);
  return c;
}

em_tensor *em_tensor_contiguous(em_tensor *t) {
  if (em_is_contiguous(t)) { em_tensor_retain(t); return t; }
  return em_tensor_clone(t);
}

/* writes values into a (possibly strided) destination in row-major order: src[0], src[step], ...
   (step 0 writes src[0] everywhere) */
static void scatter(em_tensor *dst, const float *src, int64_t step) {
  int64_t n = em_numel(dst);
  if (n == 0) return;
  float *d = em_data(dst);
  int nd = dst->ndim;
  if (em_is_contiguous(dst)) {
    if (step) memmove(d, src, (size_t)n * sizeof(float));
    else for (int64_t i = 0; i < n; i++) d[i] = src[0];
    return;
  }
  int64_t idx[EM_MAX_DIMS] = {0};
  int64_t inner = dst->shape[nd - 1], ist = dst->stride[nd - 1], off = 0;
  for (int64_t done = 0; done < n; done += inner) {
    for (int64_t k = 0; k < inner; k++) d[off + k * ist] = src[k * step];
    src += inner * step;
    for (int e = nd - 2; e >= 0; e--) {
      off += dst->stride[e];
      if (++idx[e] < dst->shape[e]) break;
      off -= idx[e] * dst->stride[e];
      idx[e] = 0;
    }
  }
}

int em_tensor_shares_elements(const em_tensor *t) {
  for (int d = 0; d < t->ndim; d++)
    if (t->stride[d] == 0 && t->shape[d] > 1) return 1;
  return 0;
}

int em_tensor_copy_(em_tensor *dst, const em_tensor *src) {
  int64_t n = em_numel(dst);
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
  if (n != em_numel(src))
    return em_fail_kind(EM_ESHAPE, "copy: destination %s and source %s have different numbers of elements",
                   em_tensor_shape_str(a, sizeof a, dst), em_tensor_shape_str(b, sizeof b, src));
  if (em_tensor_shares_elements(dst))
      return em_fail_kind(EM_ESTATE, "copy: destination %s is an expanded view whose elements share memory; clone() it first",
                     em_tensor_shape_str(a, sizeof a, dst));
  /* straight from src, unless both share storage and the writes could overtake the reads */
  if (em_is_contiguous(src) && (src->storage != dst->storage || em_is_contiguous(dst))) {
    scatter(dst, em_data(src), 1);
    return 0;
  }
  float *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!tmp) return em_fail_kind(EM_ENOMEM, "copy: out of memory");
  gather(tmp, src);
  scatter(dst, tmp, 1);
  free(tmp);
  return 0;
}

void em_tensor_fill_(em_tensor *t, float v) { scatter(t, &v, 0); }
