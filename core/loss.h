/* loss.h - loss functions as fused kernels with their autograd nodes: the regression losses (mse, rmse,
   mae, huber, smooth_l1), bce, bce_with_logits, kl_div, and the class losses nll and cross_entropy (a
   log-softmax fused with the loss, backward softmax - onehot). Formulas follow PyTorch's documentation
   of the loss of the same name; each kernel cites its page.
   Class targets hold class labels 1..C as floats (ember's convention everywhere):
   the core takes them as they come from the data loaders, without converting to 0-based.
   Every function returns a new reference, or NULL with em_error() naming the loss and the shapes. */
#ifndef EMBER_LOSS_H
#define EMBER_LOSS_H
#include "tensor.h"

typedef enum {
  EM_REDUCE_MEAN,       /* mean over elements (class losses: weighted mean over targets) */
  EM_REDUCE_SUM,
  EM_REDUCE_NONE,       /* one loss per element (class losses: per sample) */
  EM_REDUCE_BATCHMEAN,  /* kl_div only: sum / batch size (input->shape[0]) */
  EM_REDUCE_COUNT
} em_reduction;

extern const char *const em_reduction_names[EM_REDUCE_COUNT];   /* "mean", "sum", "none", "batchmean" */

/* PyTorch's default ignore_index; a label that is never a class 1..C */
#define EM_IGNORE_INDEX (-100)

/* Regression losses: input and target of the same shape (no broadcasting: a [64 x 1] output against
   a [64] target is an error, not a [64 x 64] loss). Gradients flow to input and, when it requires grad,
   to target. */
em_tensor *em_loss_mse(em_tensor *input, em_tensor *target, em_reduction red);
/* sqrt(mse + eps) with mse reduced as red says: mean -> sqrt(mean(d^2) + eps), sum -> sqrt(sum(d^2) + eps)
   (the Euclidean norm of the error), none -> elementwise sqrt(d^2 + eps). eps > 0 keeps the gradient
   finite (zero) at zero error. */
em_tensor *em_loss_rmse(em_tensor *input, em_tensor *target, em_reduction red, float eps);
em_tensor *em_loss_mae(em_tensor *input, em_tensor *target, em_reduction red);
em_tensor *em_loss_huber(em_tensor *input, em_tensor *target, em_reduction red, float delta);  /* delta > 0 */
em_tensor *em_loss_smooth_l1(em_tensor *input, em_tensor *target, em_reduction red, float beta); /* beta >= 0 */

/* Binary losses: target of the same shape as input; weight (and pos_weight) NULL or broadcastable to the
   input's shape. The target gets no gradient: a target that requires grad is refused. */
em_tensor *em_loss_bce(em_tensor *input, em_tensor *target, em_tensor *weight, em_reduction red);
em_tensor *em_loss_bce_with_logits(em_tensor *input, em_tensor *target, em_tensor *weight,
                                   em_tensor *pos_weight, em_reduction red);
/* input log-probabilities, target probabilities (log-probabilities if log_target); red may be BATCHMEAN */
em_tensor *em_loss_kl_div(em_tensor *input, em_tensor *target, em_reduction red, int log_target);

/* Class losses. input is (N, C), (N, C, d1, ...) or unbatched (C). target is either class labels 1..C
   shaped (N), (N, d1, ...) or 0-d, or (cross_entropy only) class probabilities of the input's shape. */
typedef struct {
  em_reduction reduction;
  em_tensor *weight;         /* per-class weights, C elements, or NULL */
  int64_t ignore_index;      /* targets with this label are skipped (EM_IGNORE_INDEX by default) */
  float label_smoothing;     /* cross_entropy only, in [0, 1] */
} em_class_opts;

#define EM_CLASS_OPTS_DEFAULT {EM_REDUCE_MEAN, NULL, EM_IGNORE_INDEX, 0.0f}

/* input holds log-probabilities */
em_tensor *em_loss_nll(em_tensor *input, em_tensor *target, const em_class_opts *opts);
/* input holds logits (any real numbers: the log-softmax subtracts the row maximum) */
em_tensor *em_loss_cross_entropy(em_tensor *input, em_tensor *target, const em_class_opts *opts);
#endif
