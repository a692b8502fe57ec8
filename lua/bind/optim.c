/* optim.c (binding) - the low-level optimizer kernels of core/optim.h for lua/ember/optim/, which
   owns the state and the param groups. Each call is one fused update of one parameter; the options are
   plain arguments read from the param group by the caller at every step (nothing is cached here).

     ember._sgd_step(p, grad, buf, first, lr, momentum, dampening, weight_decay, nesterov, maximize, l1)
     ember._adam_step(p, grad, m, v, vmax, step, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                      l1, decoupled)
     ember._rmsprop_step(p, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay, momentum,
                         centered, maximize, l1)
     ember._adagrad_step(p, grad, sum, step, lr, lr_decay, weight_decay, eps, maximize, l1)
   grad nil means p.grad (read in C, so the hot loop allocates nothing); buffers an option does not use
   may be nil. Each returns true, or false without touching anything when there is no gradient.
     ember._has_grad(p), ember._zero_grad(p, set_to_none)
     ember._grad_norm(list, norm_type), ember._clip_grad_norm(list, max_norm, norm_type),
     ember._clip_grad_value(list, clip)     list: a Lua array of parameters (their .grad is used) */
#include <math.h>
#include <string.h>
#include "bind.h"
#include "optim.h"


static em_tensor *opt_tensor(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : lt_check(L, idx);
}

/* the gradient to use: the argument when given, else the parameter's own .grad (NULL: none) */
static em_tensor *grad_of(lua_State *L, int idx, em_tensor *p) {
  return lua_isnoneornil(L, idx) ? p->grad : lt_check(L, idx);
}

static int64_t check_step(lua_State *L, int idx) {
  lua_Integer s = lt_checkinteger(L, idx);
  if (s < 1) lt_argerror(L, idx, "value", "a step count >= 1");
  return (int64_t)s;
}

static int l_sgd_step(lua_State *L) {
  em_tensor *p = lt_check(L, 1), *g = grad_of(L, 2, p), *buf = opt_tensor(L, 3);
  em_sgd_cfg c = {.lr = lt_checknumber(L, 5), .momentum = lt_checknumber(L, 6),
                  .dampening = lt_checknumber(L, 7), .weight_decay = lt_checknumber(L, 8),
                  .nesterov = lua_toboolean(L, 9), .maximize = lua_toboolean(L, 10),
                  .l1 = lt_optnumber(L, 11, 0.0)};
  if (!g) { lua_pushboolean(L, 0); return 1; }
  if (em_sgd_step(p, g, buf, lua_toboolean(L, 4), &c)) return lt_raise(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_adam_step(lua_State *L) {
  em_tensor *p = lt_check(L, 1), *g = grad_of(L, 2, p);
  em_tensor *m = opt_tensor(L, 3), *v = opt_tensor(L, 4), *vmax = opt_tensor(L, 5);
  int64_t step = check_step(L, 6);
  em_adam_cfg c = {.lr = lt_checknumber(L, 7), .beta1 = lt_checknumber(L, 8),
                   .beta2 = lt_checknumber(L, 9), .eps = lt_checknumber(L, 10),
                   .weight_decay = lt_checknumber(L, 11), .amsgrad = lua_toboolean(L, 12),
                   .maximize = lua_toboolean(L, 13), .l1 = lt_optnumber(L, 14, 0.0),
                   .decoupled = lua_toboolean(L, 15)};
  if (!g) { lua_pushboolean(L, 0); return 1; }
  if (em_adam_step(p, g, m, v, c.amsgrad ? vmax : NULL, step, &c)) return lt_raise(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_rmsprop_step(lua_State *L) {
  em_tensor *p = lt_check(L, 1), *g = grad_of(L, 2, p);
  em_tensor *sq = opt_tensor(L, 3), *gavg = opt_tensor(L, 4), *buf = opt_tensor(L, 5);
  em_rmsprop_cfg c = {.lr = lt_checknumber(L, 6), .alpha = lt_checknumber(L, 7),
                      .eps = lt_checknumber(L, 8), .weight_decay = lt_checknumber(L, 9),
                      .momentum = lt_checknumber(L, 10), .centered = lua_toboolean(L, 11),
                      .maximize = lua_toboolean(L, 12), .l1 = lt_optnumber(L, 13, 0.0)};
  if (!g) { lua_pushboolean(L, 0); return 1; }
  if (em_rmsprop_step(p, g, sq, c.centered ? gavg : NULL, c.momentum > 0 ? buf : NULL, &c))
    return lt_raise(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_adagrad_step(lua_State *L) {
  em_tensor *p = lt_check(L, 1), *g = grad_of(L, 2, p), *sum = opt_tensor(L, 3);
  int64_t step = check_step(L, 4);
  em_adagrad_cfg c = {.lr = lt_checknumber(L, 5), .lr_decay = lt_checknumber(L, 6),
                      .weight_decay = lt_checknumber(L, 7), .eps = lt_checknumber(L, 8),
                      .maximize = lua_toboolean(L, 9), .l1 = lt_optnumber(L, 10, 0.0)};
  if (!g) { lua_pushboolean(L, 0); return 1; }
  if (em_adagrad_step(p, g, sum, step, &c)) return lt_raise(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_has_grad(lua_State *L) {
  lua_pushboolean(L, lt_check(L, 1)->grad != NULL);
  return 1;
}

/* set_to_none (PyTorch 2's default) drops the gradient; otherwise it is filled with zeros in place */
static int l_zero_grad(lua_State *L) {
  em_tensor *p = lt_check(L, 1);
  if (!p->grad) return 0;
  if (lua_toboolean(L, 2)) {
    em_tensor_release(p->grad);
    p->grad = NULL;
  } else {
    em_tensor_fill_(p->grad, 0.0f);
  }
  return 0;
}

/* the tensors of a Lua array, borrowed (the array keeps them alive), in a GC-owned block. The block
   goes on top of the stack, where a missing optional argument would be: read those first. */
static em_tensor **param_list(lua_State *L, int idx, int *n, const char *fn) {
  lt_checktype(L, idx, LUA_TTABLE);
  lua_Integer len = luaL_len(L, idx);
  if (len > 1000000000) lt_error(L, "value", "%s: too many parameters", fn);
  em_tensor **ts = lua_newuserdatauv(L, (size_t)(len > 0 ? len : 1) * sizeof *ts, 0);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    ts[i - 1] = lt_test(L, -1);
    if (!ts[i - 1])
      lt_error(L, "type", "%s: parameter %d is not a tensor (got %s)", fn, (int)i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  *n = (int)len;
  return ts;
}

static double norm_arg(lua_State *L, int idx, const char *fn) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    if (!strcmp(s, "inf")) return INFINITY;
    lt_error(L, "value", "%s: norm_type must be a number > 0 or \"inf\" (got \"%s\")", fn, s);
  }
  return lt_optnumber(L, idx, 2.0);
}

static int l_grad_norm(lua_State *L) {
  int n;
  double norm_type = norm_arg(L, 2, "grad_norm"), total;
  em_tensor **ts = param_list(L, 1, &n, "grad_norm");
  if (em_grad_norm(ts, n, norm_type, &total)) return lt_raise(L);
  lua_pushnumber(L, total);
  return 1;
}

static int l_clip_grad_norm(lua_State *L) {
  int n;
  double max_norm = lt_checknumber(L, 2), norm_type = norm_arg(L, 3, "clip_grad_norm"), total;
  em_tensor **ts = param_list(L, 1, &n, "clip_grad_norm");
  if (em_clip_grad_norm(ts, n, max_norm, norm_type, &total)) return lt_raise(L);
  lua_pushnumber(L, total);
  return 1;
}

static int l_clip_grad_value(lua_State *L) {
  int n;
  double clip = lt_checknumber(L, 2);
  em_tensor **ts = param_list(L, 1, &n, "clip_grad_value");
  if (em_clip_grad_value(ts, n, clip)) return lt_raise(L);
  return 0;
}

static const luaL_Reg fns[] = {
  {"_sgd_step", l_sgd_step}, {"_adam_step", l_adam_step}, {"_rmsprop_step", l_rmsprop_step},
  {"_adagrad_step", l_adagrad_step}, {"_has_grad", l_has_grad}, {"_zero_grad", l_zero_grad},
  {"_grad_norm", l_grad_norm}, {"_clip_grad_norm", l_clip_grad_norm},
  {"_clip_grad_value", l_clip_grad_value}, {NULL, NULL}};

void ember_open_optim(lua_State *L) { ember_register(L, fns); }
