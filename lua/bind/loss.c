/* loss.c (binding) - the C loss kernels as ember._mse, ember._cross_entropy, ...: positional arguments,
   already checked by lua/ember/loss.lua, which is the public API (ember.loss.NAME(input, target, opts)). */
#include "bind.h"
#include "loss.h"

static const char *const reductions[] = {"mean", "sum", "none", "batchmean", NULL};
_Static_assert(EM_REDUCE_MEAN == 0 && EM_REDUCE_SUM == 1 && EM_REDUCE_NONE == 2 && EM_REDUCE_BATCHMEAN == 3,
               "reductions[] follows em_reduction");

static em_reduction check_reduction(lua_State *L, int idx) {
  return (em_reduction)lt_checkoption(L, idx, "mean", reductions, "\"mean\", \"sum\", \"none\" or \"batchmean\"");
}

/* a tensor argument given as a tensor, number or nested table; nil -> NULL. A converted value replaces
   the argument on the stack, so Lua owns it and a later error cannot leak it. Borrowed. */
static em_tensor *arg_tensor(lua_State *L, int idx, const char *fn) {
  if (lua_isnoneornil(L, idx)) return NULL;
  em_tensor *t = lt_test(L, idx);
  if (t) return t;
  t = lt_to_tensor(L, idx, fn);
  lt_push(L, t);
  lua_replace(L, idx);
  return t;
}

static em_tensor *arg_target(lua_State *L, int idx, const char *fn) {
  em_tensor *t = arg_tensor(L, idx, fn);
  if (!t) lt_error(L, "value", "%s: target is missing", fn);
  return t;
}

/* _mse(input, target, reduction) and the other regression losses with one number parameter */
static int l_mse(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "mse");
  lt_push(L, em_loss_mse(x, t, check_reduction(L, 3)));
  return 1;
}

static int l_mae(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "mae");
  lt_push(L, em_loss_mae(x, t, check_reduction(L, 3)));
  return 1;
}

/* _rmse(input, target, reduction, eps) */
static int l_rmse(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "rmse");
  em_reduction r = check_reduction(L, 3);
  lt_push(L, em_loss_rmse(x, t, r, (float)lt_optnumber(L, 4, 1e-8)));
  return 1;
}

/* _huber(input, target, reduction, delta) */
static int l_huber(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "huber");
  em_reduction r = check_reduction(L, 3);
  lt_push(L, em_loss_huber(x, t, r, (float)lt_optnumber(L, 4, 1.0)));
  return 1;
}

/* _smooth_l1(input, target, reduction, beta) */
static int l_smooth_l1(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "smooth_l1");
  em_reduction r = check_reduction(L, 3);
  lt_push(L, em_loss_smooth_l1(x, t, r, (float)lt_optnumber(L, 4, 1.0)));
  return 1;
}

/* _bce(input, target, reduction, weight|nil) */
static int l_bce(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "bce");
  em_reduction r = check_reduction(L, 3);
  em_tensor *w = arg_tensor(L, 4, "bce");
  lt_push(L, em_loss_bce(x, t, w, r));
  return 1;
}

/* _bce_with_logits(input, target, reduction, weight|nil, pos_weight|nil) */
static int l_bce_with_logits(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "bce_with_logits");
  em_reduction r = check_reduction(L, 3);
  em_tensor *w = arg_tensor(L, 4, "bce_with_logits"), *pw = arg_tensor(L, 5, "bce_with_logits");
  lt_push(L, em_loss_bce_with_logits(x, t, w, pw, r));
  return 1;
}

/* _kl_div(input, target, reduction, log_target) */
static int l_kl_div(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, "kl_div");
  em_reduction r = check_reduction(L, 3);
  lt_push(L, em_loss_kl_div(x, t, r, lua_toboolean(L, 4)));
  return 1;
}

/* _cross_entropy / _nll(input, target, reduction, weight|nil, ignore_index, label_smoothing) */
static int class_loss(lua_State *L, int fused) {
  const char *fn = fused ? "cross_entropy" : "nll";
  em_tensor *x = lt_check(L, 1), *t = arg_target(L, 2, fn);
  em_class_opts o = EM_CLASS_OPTS_DEFAULT;
  o.reduction = check_reduction(L, 3);
  o.weight = arg_tensor(L, 4, fn);
  o.ignore_index = (int64_t)lt_optinteger(L, 5, EM_IGNORE_INDEX);
  o.label_smoothing = (float)lt_optnumber(L, 6, 0.0);
  lt_push(L, (fused ? em_loss_cross_entropy : em_loss_nll)(x, t, &o));
  return 1;
}
static int l_cross_entropy(lua_State *L) { return class_loss(L, 1); }
static int l_nll(lua_State *L) { return class_loss(L, 0); }

static const luaL_Reg fns[] = {
  {"_mse", l_mse}, {"_rmse", l_rmse}, {"_mae", l_mae}, {"_huber", l_huber}, {"_smooth_l1", l_smooth_l1},
  {"_bce", l_bce}, {"_bce_with_logits", l_bce_with_logits}, {"_kl_div", l_kl_div},
  {"_cross_entropy", l_cross_entropy}, {"_nll", l_nll}, {NULL, NULL}};

void ember_open_loss(lua_State *L) { ember_register(L, fns); }
