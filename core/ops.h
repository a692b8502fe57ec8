/* ops.h - differentiable tensor operations. Each returns a new reference (NULL + em_error on bad input)
   and records an autograd node when an input requires grad. Binary elementwise ops broadcast as NumPy
   and PyTorch do. Dimensions are 0-based; negative dims count from the end (-1 = last). */
#ifndef EMBER_OPS_H
#define EMBER_OPS_H
#include "tensor.h"

typedef enum {
  EM_BIN_ADD, EM_BIN_SUB, EM_BIN_MUL, EM_BIN_DIV, EM_BIN_POW, EM_BIN_MAX, EM_BIN_MIN,
  EM_BIN_EQ, EM_BIN_NE, EM_BIN_LT, EM_BIN_LE, EM_BIN_GT, EM_BIN_GE,
  EM_BIN_COUNT
} em_binop;

typedef enum {
  EM_UN_NEG, EM_UN_EXP, EM_UN_LOG, EM_UN_SQRT, EM_UN_ABS, EM_UN_RELU, EM_UN_SIGMOID, EM_UN_TANH,
  EM_UN_SIN, EM_UN_COS, EM_UN_SIGN, EM_UN_GELU, EM_UN_SQUARE, EM_UN_LOG1P, EM_UN_SOFTPLUS,
  EM_UN_COUNT
} em_unop;

extern const char *const em_binop_names[EM_BIN_COUNT];
extern const char *const em_unop_names[EM_UN_COUNT];

/* elementwise */
em_tensor *em_binary(em_binop op, em_tensor *a, em_tensor *b);
em_tensor *em_binary_scalar(em_binop op, em_tensor *a, float s, int scalar_first); /* s op a if scalar_first */
em_tensor *em_unary(em_unop op, em_tensor *a);
em_tensor *em_clamp(em_tensor *a, float lo, float hi);   /* min(max(a, lo), hi), as torch.clamp; -INFINITY / INFINITY for an open side */
em_tensor *em_leaky_relu(em_tensor *a, float slope);
em_tensor *em_where(em_tensor *cond, em_tensor *a, em_tensor *b); /* cond != 0 ? a : b */

/* reductions over all elements (dim == EM_ALL) or one dim */
#define EM_ALL (-1000)
em_tensor *em_sum(em_tensor *a, int dim, int keepdim);
em_tensor *em_mean(em_tensor *a, int dim, int keepdim);
em_tensor *em_max(em_tensor *a, int dim, int keepdim);   /* values; gradient to the first argmax of dim, or split evenly among the ties of a full reduction (as PyTorch) */
em_tensor *em_min(em_tensor *a, int dim, int keepdim);
em_tensor *em_argmax(em_tensor *a, int dim, int keepdim);  /* 0-based indices as floats */
em_tensor *em_argmin(em_tensor *a, int dim, int keepdim);
em_tensor *em_softmax(em_tensor *a, int dim);
em_tensor *em_log_softmax(em_tensor *a, int dim);
/* sums g down to shape (undoes broadcasting); used by backward functions */
em_tensor *em_sum_to_shape(em_tensor *g, int ndim, const int64_t *shape);

/* linear algebra: 1-d and 2-d as torch.matmul, batched (>= 3-d) with broadcast batch dims */
em_tensor *em_matmul(em_tensor *a, em_tensor *b);

/* differentiable views and shape ops */
em_tensor *em_reshape(em_tensor *a, int ndim, const int64_t *shape);  /* one size may be -1 */
em_tensor *em_transpose(em_tensor *a, int d0, int d1);
em_tensor *em_permute(em_tensor *a, const int *perm);
em_tensor *em_narrow(em_tensor *a, int dim, int64_t start, int64_t len);
em_tensor *em_select(em_tensor *a, int dim, int64_t index);
em_tensor *em_expand(em_tensor *a, int ndim, const int64_t *shape);
em_tensor *em_unsqueeze(em_tensor *a, int dim);
em_tensor *em_squeeze(em_tensor *a, int dim);                         /* EM_ALL: every size-1 dim */
em_tensor *em_cat(int n, em_tensor *const *ts, int dim);
em_tensor *em_contiguous(em_tensor *a);                               /* differentiable copy if needed */
/* rows of a picked by 0-based integer indices (float tensor of indices), along dim 0 */
em_tensor *em_index_select(em_tensor *a, int dim, em_tensor *index);

/* normalises a user dim (negative counts from the end) against ndim; -1 + em_error when out of range */
int em_wrap_dim(const char *fn, int dim, int ndim);
#endif
