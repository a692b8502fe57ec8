/* autograd.c - graph nodes and the backward pass (reverse topological order over the recorded nodes). */
#include <stdlib.h>
#include <string.h>
#include "autograd.h"
#include "ops.h"

static __thread int grad_enabled = 1;
int em_grad_enabled(void) { return grad_enabled; }
int em_set_grad_enabled(int on) { int old = grad_enabled; grad_enabled = on != 0; return old; }

int em_needs_grad(int n, em_tensor *const *inputs) {
  if (!grad_enabled) return 0;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return 1;
  return 0;
}

int em_node_attach(em_node **node, em_tensor *out, const char *name, em_backward_fn fn, int n,
                   em_tensor *const *inputs, const void *state, size_t state_size) {
  if (node) *node = NULL;
  if (!grad_enabled)
    for (int i = 0; i < n; i++)
      if (inputs[i] && out->storage == inputs[i]->storage && (inputs[i]->requires_grad || inputs[i]->grad_view))
        out->grad_view = 1;
  if (!em_needs_grad(n, inputs)) return 0;
  em_node *nd = calloc(1, sizeof *nd + state_size);
  if (!nd) return em_fail_kind(EM_ENOMEM, "%s: out of memory recording the autograd graph", name);
  if (state_size) memcpy(nd->state, state, state_size);
  nd->refs = 1;
  nd->name = name;
  nd->backward = fn;
  nd->ninputs = n;
  for (int i = 0; i < n; i++) {
    nd->inputs[i] = inputs[i];
    em_tensor_retain(inputs[i]);
  }
  nd->out_ndim = out->ndim;
  memcpy(nd->out_shape, out->shape, sizeof nd->out_shape);
  out->grad_fn = nd;
  out->requires_grad = 1;
  if (node) *node = nd;
  return 0;
}

em_tensor *em_node_record(em_tensor *out, const char *name, em_backward_fn fn, int n, em_tensor *const *inputs,
                          const void *state, size_t state_size) {
  if (out && em_node_attach(NULL, out, name, fn, n, inputs, state, state_size)) {
    em_tensor_release(out);
    return NULL;
  }
  return out;
}

int em_node_save(em_node *n, int slot, em_tensor *t) {
  em_tensor *a = NULL;
  if (t && !(a = em_tensor_alias(t))) return em_fail_kind(EM_ENOMEM, "%s: out of memory recording the autograd graph", n->name);
  em_tensor_release(n->saved[slot]);
  n->saved[slot] = a;
  return 0;
}

static void node_drop_state(em_node *n) {
  for (int i = 0; i < EM_NODE_MAX_IN; i++) {
    em_tensor_release(n->saved[i]);
    n->saved[i] = NULL;
  }
  free(n->extra);
  n->extra = NULL;
}

/* Releasing a long chain (x = x + 1 a million times) recursively would overflow the C stack, so nodes
   whose count drops to zero go on a worklist that the outermost call drains. */
static __thread em_node **dead;
static __thread int ndead, capdead, draining;

static void node_free(em_node *n) {
  node_drop_state(n);
  for (int i = 0; i < n->ninputs; i++) em_tensor_release(n->inputs[i]);
  em_tensor_release(n->gacc);
  free(n);
}

void em_node_release(em_node *n) {
  if (!n || --n->refs > 0) return;
  if (ndead == capdead) {
    int cap = capdead ? 2 * capdead : 64;
    em_node **p = realloc(dead, (size_t)cap * sizeof *p);
    if (!p) { node_free(n); return; }
    dead = p;
    capdead = cap;
  }
  dead[ndead++] = n;
  if (draining) return;
  draining = 1;
  while (ndead > 0) node_free(dead[--ndead]);
  draining = 0;
}

/* adds g into *slot, creating it as a copy (reduced to shape) when empty */
static int accumulate(em_tensor **slot, em_tensor *g, int ndim, const int64_t *shape) {
  em_tensor *r = em_sum_to_shape(g, ndim, shape);
  if (!r) return -1;
  if (!*slot) {
    if (r == g || !em_is_contiguous(r) || r->grad_fn) {   /* own a private contiguous copy */
      em_tensor *c = em_tensor_clone(r);
      em_tensor_release(r);
      if (!c) return -1;
      r = c;
    }
    *slot = r;
    return 0;
  }
  em_tensor *s = *slot;
  float *d = em_data(s);
  int64_t n = em_numel(s);
  if (em_is_contiguous(r) && em_is_contiguous(s)) {
    const float *p = em_data(r);
    for (int64_t i = 0; i < n; i++) d[i] += p[i];
  } else {
    em_tensor *sum = em_binary(EM_BIN_ADD, s, r);
    int rc = sum ? em_tensor_copy_(s, sum) : -1;
    em_tensor_release(sum);
    if (rc) { em_tensor_release(r); return -1; }
  }
  em_tensor_release(r);
  return 0;
}

int em_node_accum(em_node *n, int k, em_tensor *g) {
  em_tensor *in = n->inputs[k];
  if (!in || !in->requires_grad) return 0;
  if (in->grad_fn) {
    em_node *p = in->grad_fn;
    return accumulate(&p->gacc, g, in->ndim, in->shape);
  }
  return accumulate(&in->grad, g, in->ndim, in->shape);
}

int em_node_accum_owned(em_node *n, int k, em_tensor *g) {
  if (!g) return 0;
  em_tensor *in = n->inputs[k];
  if (in && in->requires_grad && g->refs == 1 && !g->grad_fn && em_is_contiguous(g) && em_same_shape(g, in)) {
    em_tensor **slot = in->grad_fn ? &in->grad_fn->gacc : &in->grad;
    if (!*slot) { *slot = g; return 0; }
  }
  int rc = em_node_accum(n, k, g);
  em_tensor_release(g);
  return rc;
}

int em_node_accum3_owned(em_node *n, int ok, em_tensor *g0, em_tensor *g1, em_tensor *g2) {
  em_tensor *g[3] = {g0, g1, g2};
  int rc = ok ? 0 : -1;
  for (int k = 0; k < 3; k++) {
    if (ok) rc |= em_node_accum_owned(n, k, g[k]);
    else em_tensor_release(g[k]);
  }
  return rc ? -1 : 0;
}

typedef struct { em_node **v; int n, cap; } node_vec;
static int vec_push(node_vec *s, em_node *x) {
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    em_node **p = realloc(s->v, (size_t)cap * sizeof *p);
    if (!p) return em_fail_kind(EM_ENOMEM, "backward: out of memory");
    s->v = p;
    s->cap = cap;
  }
  s->v[s->n++] = x;
  return 0;
}

static const char freed_msg[] =
  "backward: the graph through '%s' has already been freed by a previous backward "
  "(pass keep_graph = true to the first backward to run it twice)";

/* Kahn's algorithm: count each node's consumers, then hand a node to the ready list once all of them
   have passed their gradient down. Iterative, so a deep graph cannot overflow the C stack. */
int em_backward(em_tensor *root, em_tensor *grad, int keep_graph) {
  static __thread unsigned pass;
  char sb[EM_SHAPE_BUF], gb[EM_SHAPE_BUF];
  if (!root->requires_grad)
    return em_fail_kind(EM_ESTATE, "backward: tensor does not require grad (no input of it called requires_grad())");
  if (grad && !em_same_shape(grad, root))
    return em_fail_kind(EM_ESHAPE, "backward: gradient shape %s does not match tensor shape %s",
                   em_tensor_shape_str(gb, sizeof gb, grad), em_tensor_shape_str(sb, sizeof sb, root));
  if (!grad && em_numel(root) != 1)
    return em_fail_kind(EM_ESHAPE, "backward: tensor %s is not a scalar; pass a gradient of the same shape",
                   em_tensor_shape_str(sb, sizeof sb, root));
  if (root->grad_fn && root->grad_fn->freed) return em_fail_kind(EM_ESTATE, freed_msg, root->grad_fn->name);
  int old = em_set_grad_enabled(0);
  int rc = -1;
  node_vec all = {0}, ready = {0};
  em_tensor *seed = grad ? em_tensor_clone(grad) : em_tensor_full(root->ndim, root->shape, 1.0f);
  if (!seed) goto out;
  if (!root->grad_fn) {   /* a leaf: its gradient is the seed */
    rc = accumulate(&root->grad, seed, root->ndim, root->shape);
    goto out;
  }
  unsigned id = ++pass;
  em_node *top = root->grad_fn;
  top->visit = id;
  top->pending = 0;
  top->refs++;            /* every discovered node is held until the pass ends */
  if (vec_push(&all, top)) { em_node_release(top); goto out; }
  for (int i = 0; i < all.n; i++) {
    em_node *n = all.v[i];
    for (int k = 0; k < n->ninputs; k++) {
      em_node *p = n->inputs[k] ? n->inputs[k]->grad_fn : NULL;
      if (!p) continue;
      if (p->freed) { em_fail_kind(EM_ESTATE, freed_msg, p->name); goto out; }
      if (p->visit == id) { p->pending++; continue; }
      p->visit = id;
      p->pending = 1;
      p->refs++;
      if (vec_push(&all, p)) { em_node_release(p); goto out; }
    }
  }
  if (accumulate(&top->gacc, seed, top->out_ndim, top->out_shape)) goto out;
  if (vec_push(&ready, top)) goto out;
  while (ready.n > 0) {
    em_node *n = ready.v[--ready.n];
    if (n->gacc) {
      em_tensor *g = n->gacc;
      n->gacc = NULL;
      int r = n->backward(n, g);
      em_tensor_release(g);
      if (r) goto out;
    }
    for (int k = 0; k < n->ninputs; k++) {
      em_node *p = n->inputs[k] ? n->inputs[k]->grad_fn : NULL;
      if (p && --p->pending == 0 && vec_push(&ready, p)) goto out;
    }
  }
  rc = 0;
out:
  /* Without keep_graph, free what the graph holds (saved tensors, inputs) as PyTorch does; the nodes
     stay as markers so a second backward through them says why it cannot run. */
  for (int i = 0; i < all.n; i++) {
    em_node *n = all.v[i];
    em_tensor_release(n->gacc);
    n->gacc = NULL;
    if (rc == 0 && !keep_graph) {
      node_drop_state(n);
      for (int k = 0; k < n->ninputs; k++) { em_tensor_release(n->inputs[k]); n->inputs[k] = NULL; }
      n->ninputs = 0;
      n->freed = 1;
    }
  }
  for (int i = 0; i < all.n; i++) em_node_release(all.v[i]);
  free(all.v);
  free(ready.v);
  em_tensor_release(seed);
  em_set_grad_enabled(old);
  return rc;
}

em_tensor *em_detach(em_tensor *t) { return em_tensor_alias(t); }
