/* tensor.h - float32 N-d tensors: a header (shape, strides, offset) over refcounted storage, so views
   are free. Shapes are outermost-first: an image batch is [N, C, H, W]; strides count elements.
   Ownership: functions named _new or returning em_tensor* hand the caller one reference;
   em_tensor_release drops it. Functions that can fail on user input return NULL (or -1) and set
   em_error() (error.h). Dimensions are 0-based here; the Lua binding converts from 1-based. */
#ifndef EMBER_TENSOR_H
#define EMBER_TENSOR_H
#include <stdint.h>
#include <stddef.h>
#include "error.h"

#define EM_MAX_DIMS 8

typedef struct em_storage {
  float *data;
  int64_t size;        /* elements */
  int refs;
  int small;           /* block comes from the small-block free list */
  size_t bytes;        /* of the whole block (storage, data, and the first header when inline) */
} em_storage;

struct em_node;

typedef struct em_tensor {
  int refs;
  int ndim;
  int64_t shape[EM_MAX_DIMS];
  int64_t stride[EM_MAX_DIMS];
  int64_t offset;
  em_storage *storage;
  struct em_tensor *grad;     /* owned; NULL until a backward pass reaches this leaf */
  struct em_node *grad_fn;    /* owned; the op that produced this tensor, NULL for leaves */
  int requires_grad;          /* leaf: accumulate .grad; non-leaf: part of a graph */
  int grad_view;              /* a view made with grad mode off of a tensor that requires grad (or of such
                                 a view): writing through it with grad mode on would hide the change
                                 from autograd, so the binding refuses that, as PyTorch does */
  int inline_header;          /* this header lives inside its storage's block (see tensor.c) */
} em_tensor;

/* creation: contiguous, row-major */
em_tensor *em_tensor_new(int ndim, const int64_t *shape);            /* uninitialised */
em_tensor *em_tensor_zeros(int ndim, const int64_t *shape);
em_tensor *em_tensor_full(int ndim, const int64_t *shape, float v);
em_tensor *em_tensor_scalar(float v);                                  /* 0-d */
em_tensor *em_tensor_arange(double start, double stop, double step);  /* [start, stop) */
em_tensor *em_tensor_new_like(const em_tensor *t);
em_tensor *em_tensor_zeros_like(const em_tensor *t);

void em_tensor_retain(em_tensor *t);
void em_tensor_release(em_tensor *t);   /* NULL is fine */

int64_t em_numel(const em_tensor *t);
int64_t em_shape_numel(int ndim, const int64_t *shape);
int em_is_contiguous(const em_tensor *t);
int em_same_shape(const em_tensor *a, const em_tensor *b);
static inline float *em_data(const em_tensor *t) { return t->storage->data + t->offset; }
/* value at a flat row-major index of the logical shape (any strides) */
float em_get_flat(const em_tensor *t, int64_t i);
char *em_tensor_shape_str(char *buf, size_t len, const em_tensor *t);

/* raw views: share storage, record no autograd node (ops.h has the differentiable versions) */
em_tensor *em_tensor_view_raw(em_tensor *t, int ndim, const int64_t *shape);   /* t contiguous */
em_tensor *em_tensor_transpose_raw(em_tensor *t, int d0, int d1);
em_tensor *em_tensor_permute_raw(em_tensor *t, const int *perm);
em_tensor *em_tensor_narrow_raw(em_tensor *t, int dim, int64_t start, int64_t len);
em_tensor *em_tensor_select_raw(em_tensor *t, int dim, int64_t index);
em_tensor *em_tensor_expand_raw(em_tensor *t, int ndim, const int64_t *shape);
em_tensor *em_tensor_alias(em_tensor *t);     /* same view, no grad_fn: what nodes save to avoid cycles */

/* copies */
em_tensor *em_tensor_contiguous(em_tensor *t);    /* t itself (retained) when already contiguous */
em_tensor *em_tensor_clone(const em_tensor *t);   /* fresh contiguous copy, no autograd history */
/* same numel; src read in row-major order (overlapping storage is fine). Refuses a dst whose elements
   share memory (an expand): which value would stay is undefined. */
int em_tensor_copy_(em_tensor *dst, const em_tensor *src);
int em_tensor_shares_elements(const em_tensor *t);   /* some dim of size > 1 has stride 0 */
void em_tensor_fill_(em_tensor *t, float v);                /* in place, allocates nothing: cannot fail */

/* the most elements a tensor may have (4 TiB of floats) */
#define EM_MAX_NUMEL ((int64_t)1 << 40)
/* shape validation shared by every entry point that makes a shape: rank 0..EM_MAX_DIMS, non-negative
   sizes, and sizes that multiply to at most EM_MAX_NUMEL with a 0 counted as 1, so that no stride or
   offset of any view overflows even when the tensor is empty. fn names the caller in the message. */
int em_check_shape(const char *fn, int ndim, const int64_t *shape);

/* bytes allocated by tensors and not yet freed: the binding reports growth to the Lua GC */
int64_t em_live_bytes(void);
#endif
