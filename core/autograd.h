/* autograd.h - reverse-mode automatic differentiation: ops record a node when an input requires grad
   and grad mode is on; em_backward walks the nodes in reverse topological order, accumulates into the
   leaves' .grad, and frees the graph (unless asked to keep it). */
#ifndef EMBER_AUTOGRAD_H
#define EMBER_AUTOGRAD_H
#include "tensor.h"

#define EM_NODE_MAX_IN 4

typedef struct em_node em_node;
/* computes the gradients of the inputs from gout (the gradient of the output, shaped like it) and hands
   each to em_node_accum; runs with grad mode off. Returns 0 or -1 with em_error set. */
typedef int (*em_backward_fn)(em_node *n, em_tensor *gout);

struct em_node {
  int refs;
  const char *name;                    /* op name, for messages ("add", "conv2d") */
  int ninputs;
  em_tensor *inputs[EM_NODE_MAX_IN];   /* owned; gradient flows to these */
  em_tensor *saved[EM_NODE_MAX_IN];    /* owned; what backward needs (aliases: no grad_fn, no cycle) */
  void *extra;                         /* op-owned buffer (e.g. pooling argmax), freed with free() */
  em_backward_fn backward;
  int64_t out_shape[EM_MAX_DIMS];
  int out_ndim;
  int freed;                           /* saved state released by a backward pass */
  /* backward-pass scratch */
  em_tensor *gacc;                     /* gradient of the output accumulated so far */
  int pending;                         /* consumers that have not yet passed their gradient down */
  unsigned visit;                      /* id of the pass that last reached this node */
  /* the op's parameters, a struct of the op's own type (slice_state, em_conv2d_geom) copied in by
     em_node_attach; it lives in the node's allocation and goes with it */
  union { double d; int64_t i; void *p; } state[];
};

/* grad mode: ops record nodes only when it is on (default) */
int em_grad_enabled(void);
int em_set_grad_enabled(int on);     /* returns the previous value */

/* does an op with these inputs need to record a node? */
int em_needs_grad(int n, em_tensor *const *inputs);

/* creates a node for out (which takes ownership of the node) with the given inputs retained and a copy of
   the op's state (state_size bytes at state; NULL and 0 when the op needs none). *node (node may be NULL)
   is the new node, so the op can save tensors, or NULL when no node is needed (grad mode off, no input
   requires grad). Returns 0, or -1 with em_error set when out of memory: out then has no history, and
   the op must fail rather than return a result whose gradients would be lost. With grad mode off, an
   out that shares an input's storage is marked as a grad_view when that input requires grad. */
int em_node_attach(em_node **node, em_tensor *out, const char *name, em_backward_fn fn, int n,
                   em_tensor *const *inputs, const void *state, size_t state_size);
/* em_node_attach for an op that saves no tensors: returns out, or NULL with out released when out is
   NULL (the op failed before) or the node cannot be allocated */
em_tensor *em_node_record(em_tensor *out, const char *name, em_backward_fn fn, int n, em_tensor *const *inputs,
                          const void *state, size_t state_size);
/* the state given to em_node_attach, for backward to read */
static inline void *em_node_state(em_node *n) { return n->state; }
/* stores an alias of t (NULL clears the slot); -1 + em_error when out of memory */
int em_node_save(em_node *n, int slot, em_tensor *t);
void em_node_release(em_node *n);

/* called by backward functions: adds g (shaped like input k, or broadcastable to it) into input k's
   gradient. Takes no ownership of g. */
int em_node_accum(em_node *n, int k, em_tensor *g);

/* as em_node_accum, but takes over the caller's reference to g (NULL is fine: nothing to add). A fresh,
   contiguous g shaped like the input and held by no one else is installed as the gradient without a
   copy when the slot is empty, which saves a large allocation and a pass over memory per gradient. */
int em_node_accum_owned(em_node *n, int k, em_tensor *g);
/* em_node_accum_owned for inputs 0, 1 and 2 at once (each gradient NULL where that input wants none),
   the end of a backward that computes three; when ok is 0 (it failed part way) the gradients are only
   released and it returns -1 */
int em_node_accum3_owned(em_node *n, int ok, em_tensor *g0, em_tensor *g1, em_tensor *g2);

/* runs the backward pass from root. grad may be NULL only for a tensor of one element.
   keep_graph != 0 keeps saved tensors so backward can run again through the same graph. */
int em_backward(em_tensor *root, em_tensor *grad, int keep_graph);

/* a tensor sharing data with t, cut from its graph, requires_grad off */
em_tensor *em_detach(em_tensor *t);
#endif
