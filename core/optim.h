/* optim.h - fused parameter updates (SGD, Adam/AdamW, RMSprop, Adagrad, an L1 proximal step) and
   gradient clipping. Each step function makes one pass over the parameter, its gradient and its state
   buffers, with no temporaries. The formulas are PyTorch's (pages cited in optim.c), in the order its
   reference implementation evaluates them, so trajectories agree with torch.optim to float32 precision.

   Hyper-parameters come in a small struct filled by the caller at every step (the Lua optimizer reads
   them from its param groups each time, so edits between steps take effect). Per-element arithmetic is
   float32, like PyTorch's; scalar factors such as bias corrections are computed in double first.

   All tensors passed to a step must be contiguous and shaped exactly like the parameter. State buffers
   start as zeros (Adagrad's sum as initial_accumulator_value) and are updated in place. Steps return 0,
   or -1 with em_error() set ("optim.adam: ...") and nothing written. */
#ifndef EMBER_OPTIM_H
#define EMBER_OPTIM_H
#include "tensor.h"

/* an L1 proximal (soft-threshold) step after every update: w <- sign(w) * max(|w| - lr * l1, 0), which
   lands weights exactly on zero. l1 = 0 turns it off. Every optimizer has it. */

typedef struct em_sgd_cfg {
  double lr, momentum, dampening, weight_decay, l1;
  int nesterov, maximize;
} em_sgd_cfg;

/* buf: the momentum buffer (NULL allowed when momentum == 0). first != 0 on the parameter's first step
   with momentum, when PyTorch sets the buffer to the gradient instead of decaying it. */
int em_sgd_step(em_tensor *p, const em_tensor *grad, em_tensor *buf, int first, const em_sgd_cfg *c);

typedef struct em_adam_cfg {
  double lr, beta1, beta2, eps, weight_decay, l1;
  int amsgrad, maximize;
  int decoupled;      /* AdamW: p <- p * (1 - lr * weight_decay) before the update, not g += wd * p */
} em_adam_cfg;

/* m, v: first and second moments; vmax: running max of v (amsgrad only, else NULL). step is the
   parameter's step count including this one (1 on the first step), for the bias corrections. */
int em_adam_step(em_tensor *p, const em_tensor *grad, em_tensor *m, em_tensor *v, em_tensor *vmax,
                 int64_t step, const em_adam_cfg *c);

typedef struct em_rmsprop_cfg {
  double lr, alpha, eps, weight_decay, momentum, l1;
  int centered, maximize;
} em_rmsprop_cfg;

/* sq: running average of g^2; gavg: running average of g (centered only, else NULL); buf: momentum
   buffer (momentum > 0 only, else NULL). */
int em_rmsprop_step(em_tensor *p, const em_tensor *grad, em_tensor *sq, em_tensor *gavg, em_tensor *buf,
                    const em_rmsprop_cfg *c);

typedef struct em_adagrad_cfg {
  double lr, lr_decay, weight_decay, eps, l1;
  int maximize;
} em_adagrad_cfg;

/* sum: accumulated g^2 (starts at initial_accumulator_value); step counts this step (1 on the first). */
int em_adagrad_step(em_tensor *p, const em_tensor *grad, em_tensor *sum, int64_t step,
                    const em_adagrad_cfg *c);

/* Gradient clipping over the .grad of n parameters (parameters without a .grad are skipped).
   em_grad_norm: the norm of order norm_type (> 0, or INFINITY for the max norm) of all the gradients
   taken together as one vector, accumulated in double; sets *total. Returns 0 or -1 (bad norm_type).
   em_clip_grad_norm: also scales every gradient in place by max_norm / (total + 1e-6) when that is
   below 1 (PyTorch's clip_grad_norm_). A non-finite total leaves the gradients untouched, so the caller
   can see it and skip the step. */
int em_grad_norm(em_tensor *const *params, int n, double norm_type, double *total);
int em_clip_grad_norm(em_tensor *const *params, int n, double max_norm, double norm_type, double *total);
/* clamps every gradient element into [-clip, clip] (clip >= 0); NaN stays NaN */
int em_clip_grad_value(em_tensor *const *params, int n, double clip);
#endif
