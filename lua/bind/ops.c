/* ops.c (binding) - tensor operations as methods and metamethods: arithmetic with numbers on either
   side, unary functions, reductions, matmul, views and in-place helpers. Dims are 1-based here. */
#include <math.h>
#include <string.h>
#include "bind.h"
#include "ops.h"
#include "autograd.h"
#include "rng.h"

/* a op b where either side may be a number (kept as a 0-d tensor) */
static int binop(lua_State *L, em_binop op) {
  em_tensor *a = lt_test(L, 1), *b = lt_test(L, 2);
  if (a && b) { lt_push(L, em_binary(op, a, b)); return 1; }
  if (a && lua_type(L, 2) == LUA_TNUMBER) { lt_push(L, em_binary_scalar(op, a, (float)lua_tonumber(L, 2), 0)); return 1; }
  if (b && lua_type(L, 1) == LUA_TNUMBER) { lt_push(L, em_binary_scalar(op, b, (float)lua_tonumber(L, 1), 1)); return 1; }
  /* tables convert too (x + {1, 2, 3}) */
  int ia = a ? 1 : 2;
  em_tensor *o = lt_to_tensor(L, a ? 2 : 1, em_binop_names[op]);
  em_tensor *r = ia == 1 ? em_binary(op, a, o) : em_binary(op, o, b ? b : lt_check(L, 2));
  em_tensor_release(o);
  lt_push(L, r);
  return 1;
}

#define BIN(name, op) static int m_##name(lua_State *L) { return binop(L, op); }
BIN(add, EM_BIN_ADD) BIN(sub, EM_BIN_SUB) BIN(mul, EM_BIN_MUL) BIN(div, EM_BIN_DIV) BIN(pow, EM_BIN_POW)
BIN(maximum, EM_BIN_MAX) BIN(minimum, EM_BIN_MIN) BIN(eq, EM_BIN_EQ) BIN(ne, EM_BIN_NE) BIN(lt, EM_BIN_LT)
BIN(le, EM_BIN_LE) BIN(gt, EM_BIN_GT) BIN(ge, EM_BIN_GE)

#define UN(name, op) static int m_##name(lua_State *L) { lt_push(L, em_unary(op, lt_check(L, 1))); return 1; }
UN(neg, EM_UN_NEG) UN(exp, EM_UN_EXP) UN(log, EM_UN_LOG) UN(sqrt, EM_UN_SQRT) UN(abs, EM_UN_ABS)
UN(relu, EM_UN_RELU) UN(sigmoid, EM_UN_SIGMOID) UN(tanh, EM_UN_TANH) UN(sin, EM_UN_SIN) UN(cos, EM_UN_COS)
UN(sign, EM_UN_SIGN) UN(gelu, EM_UN_GELU) UN(square, EM_UN_SQUARE) UN(log1p, EM_UN_LOG1P)
UN(softplus, EM_UN_SOFTPLUS)

static int m_unm(lua_State *L) { lt_push(L, em_unary(EM_UN_NEG, lt_check(L, 1))); return 1; }

static int m_clamp(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)lt_checknumber(L, 2);
  float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)lt_checknumber(L, 3);
  lt_push(L, em_clamp(t, lo, hi));
  return 1;
}

static int m_leaky_relu(lua_State *L) {
  lt_push(L, em_leaky_relu(lt_check(L, 1), (float)lt_optnumber(L, 2, 0.01)));
  return 1;
}

static int l_where(lua_State *L) {
  em_tensor *c = lt_to_tensor(L, 1, "where");
  em_tensor *a = lt_to_tensor(L, 2, "where");
  em_tensor *b = lt_to_tensor(L, 3, "where");
  em_tensor *r = em_where(c, a, b);
  em_tensor_release(c); em_tensor_release(a); em_tensor_release(b);
  lt_push(L, r);
  return 1;
}

/* reductions: x:sum() over everything, x:sum(dim [, keepdim]) over one dim */
typedef em_tensor *(*reduce_fn)(em_tensor *, int, int);
static int reduce(lua_State *L, reduce_fn f, const char *name) {
  em_tensor *t = lt_check(L, 1);
  int dim = lua_isnoneornil(L, 2) ? EM_ALL : lt_check_dim(L, 2, t->ndim, name);
  lt_push(L, f(t, dim, lt_optboolean(L, 3, 0)));
  return 1;
}
static int m_sum(lua_State *L) { return reduce(L, em_sum, "sum"); }
static int m_mean(lua_State *L) { return reduce(L, em_mean, "mean"); }

/* 0-based float indices from the core become 1-based for Lua */
static void push_index(lua_State *L, em_tensor *idx) {
  if (idx) for (int64_t i = 0, n = em_numel(idx); i < n; i++) idx->storage->data[i] += 1.0f;
  lt_push(L, idx);
}

/* x:max() -> value; x:max(dim [, keepdim]) -> values, indices (1-based), as torch.max */
static int extreme(lua_State *L, int is_max) {
  em_tensor *t = lt_check(L, 1);
  const char *fn = is_max ? "max" : "min";
  if (lua_isnoneornil(L, 2)) { lt_push(L, (is_max ? em_max : em_min)(t, EM_ALL, 0)); return 1; }
  if (lt_test(L, 2)) return binop(L, is_max ? EM_BIN_MAX : EM_BIN_MIN);   /* x:max(y): elementwise */
  int dim = lt_check_dim(L, 2, t->ndim, fn);
  int keep = lt_optboolean(L, 3, 0);
  lt_push(L, (is_max ? em_max : em_min)(t, dim, keep));
  push_index(L, (is_max ? em_argmax : em_argmin)(t, dim, keep));
  return 2;
}
static int m_max(lua_State *L) { return extreme(L, 1); }
static int m_min(lua_State *L) { return extreme(L, 0); }

static int arg_extreme(lua_State *L, int is_max) {
  em_tensor *t = lt_check(L, 1);
  int dim = lua_isnoneornil(L, 2) ? EM_ALL : lt_check_dim(L, 2, t->ndim, is_max ? "argmax" : "argmin");
  push_index(L, (is_max ? em_argmax : em_argmin)(t, dim, lt_optboolean(L, 3, 0)));
  return 1;
}
static int m_argmax(lua_State *L) { return arg_extreme(L, 1); }
static int m_argmin(lua_State *L) { return arg_extreme(L, 0); }

static int m_softmax(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lt_push(L, em_softmax(t, lua_isnoneornil(L, 2) ? -1 : lt_check_dim(L, 2, t->ndim, "softmax")));
  return 1;
}
static int m_log_softmax(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lt_push(L, em_log_softmax(t, lua_isnoneornil(L, 2) ? -1 : lt_check_dim(L, 2, t->ndim, "log_softmax")));
  return 1;
}

static int m_matmul(lua_State *L) {
  em_tensor *a = lt_check(L, 1), *b = lt_check(L, 2);
  lt_push(L, em_matmul(a, b));
  return 1;
}

/* ---- views ---- */

/* the sizes of reshape and expand, from integers at 2, 3, ... or one table at 2 (x:reshape(4, -1) and
   x:reshape({4, -1}) alike); -1 and the other checks are the op's. Returns how many. */
static int view_sizes(lua_State *L, int64_t shape[EM_MAX_DIMS], const char *fn) {
  int tab = lua_istable(L, 2);
  lua_Integer len = tab ? luaL_len(L, 2) : lua_gettop(L) - 1;   /* __len may say anything */
  if (len > EM_MAX_DIMS || len < 0) return lt_error(L, "value", "%s: at most %d dimensions", fn, EM_MAX_DIMS);
  int n = (int)len;
  for (int i = 0; i < n; i++) {
    int ok;
    if (tab) lua_geti(L, 2, i + 1);
    lua_Integer v = lua_tointegerx(L, tab ? -1 : i + 2, &ok);
    if (!ok)
      return lt_error(L, "type", "%s: size %d must be an integer (got %s)", fn, i + 1,
                      luaL_tolstring(L, tab ? -1 : i + 2, NULL));
    if (tab) lua_pop(L, 1);
    shape[i] = v;
  }
  return n;
}

static int m_reshape(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int64_t shape[EM_MAX_DIMS];
  int n = view_sizes(L, shape, "reshape");
  lt_push(L, em_reshape(t, n, shape));
  return 1;
}

static int m_t(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  if (t->ndim > 2) {
    char sb[EM_SHAPE_BUF];
    return lt_error(L, "shape", "t: expects a tensor of at most 2 dimensions (got %s); use transpose(d1, d2)",
                      em_tensor_shape_str(sb, sizeof sb, t));
  }
  if (t->ndim < 2) { lua_settop(L, 1); return 1; }
  lt_push(L, em_transpose(t, 0, 1));
  return 1;
}

static int m_transpose(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int a = lt_check_dim(L, 2, t->ndim, "transpose"), b = lt_check_dim(L, 3, t->ndim, "transpose");
  lt_push(L, em_transpose(t, a, b));
  return 1;
}

static int m_permute(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int perm[EM_MAX_DIMS];
  int tab = lua_istable(L, 2), n = tab ? (int)lua_rawlen(L, 2) : lua_gettop(L) - 1;
  if (n != t->ndim) return lt_error(L, "shape", "permute: expected %d dimensions, got %d", t->ndim, n);
  for (int i = 0; i < n; i++) {
    if (tab) { lua_rawgeti(L, 2, i + 1); perm[i] = lt_check_dim(L, -1, t->ndim, "permute"); lua_pop(L, 1); }
    else perm[i] = lt_check_dim(L, i + 2, t->ndim, "permute");
  }
  lt_push(L, em_permute(t, perm));
  return 1;
}

/* x:narrow(dim, start, length): start is 1-based; start - 1 and start + length are formed only once
   they cannot overflow (math.mininteger, math.maxinteger) */
static int m_narrow(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int d = lt_check_dim(L, 2, t->ndim, "narrow");
  lua_Integer start = lt_checkinteger(L, 3), len = lt_checkinteger(L, 4);
  lua_Integer size = t->ndim ? t->shape[d] : 1;
  if (start < 1 || len < 0 || start - 1 > size || len > size - (start - 1))
    return lt_error(L, "value", "narrow: start %I with length %I is outside dimension %d of size %I", start, len, d + 1,
                      size);
  lt_push(L, em_narrow(t, d, start - 1, len));
  return 1;
}

static int m_select(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int d = lt_check_dim(L, 2, t->ndim, "select");
  lua_Integer i = lt_checkinteger(L, 3), size = t->ndim ? t->shape[d] : 1;
  if (i < 1 || i > size)
    return lt_error(L, "value", "select: index %I is out of range for dimension %d of size %I", i, d + 1, size);
  lt_push(L, em_select(t, d, i - 1));
  return 1;
}

static int m_expand(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int64_t shape[EM_MAX_DIMS];
  int n = view_sizes(L, shape, "expand");
  lt_push(L, em_expand(t, n, shape));
  return 1;
}

static int m_unsqueeze(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lua_Integer d = lt_checkinteger(L, 2);
  if (d == 0 || d > t->ndim + 1 || d < -(t->ndim + 1))
    return lt_error(L, "value", "unsqueeze: dimension %I out of range for a %d-d tensor", d, t->ndim);
  lt_push(L, em_unsqueeze(t, d > 0 ? (int)d - 1 : (int)d));
  return 1;
}

static int m_squeeze(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lt_push(L, em_squeeze(t, lua_isnoneornil(L, 2) ? EM_ALL : lt_check_dim(L, 2, t->ndim, "squeeze")));
  return 1;
}

/* flatten(start_dim = 1, end_dim = -1) */
static int m_flatten(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  if (t->ndim == 0) { int64_t one = 1; lt_push(L, em_reshape(t, 1, &one)); return 1; }
  int s = lua_isnoneornil(L, 2) ? 0 : lt_check_dim(L, 2, t->ndim, "flatten");
  int e = lua_isnoneornil(L, 3) ? t->ndim - 1 : lt_check_dim(L, 3, t->ndim, "flatten");
  if (e < s) return lt_error(L, "value", "flatten: end dimension comes before start dimension");
  int64_t shape[EM_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < s; i++) shape[n++] = t->shape[i];
  int64_t m = 1;
  for (int i = s; i <= e; i++) m *= t->shape[i];
  shape[n++] = m;
  for (int i = e + 1; i < t->ndim; i++) shape[n++] = t->shape[i];
  lt_push(L, em_reshape(t, n, shape));
  return 1;
}

static int m_contiguous(lua_State *L) { lt_push(L, em_contiguous(lt_check(L, 1))); return 1; }
static int m_clone(lua_State *L) {
  /* clone keeps the autograd history (as torch.clone): a differentiable copy, t + 0 */
  em_tensor *t = lt_check(L, 1);
  if (!(t->requires_grad && em_grad_enabled())) { lt_push(L, em_tensor_clone(t)); return 1; }
  em_tensor *z = em_tensor_scalar(0.0f);
  em_tensor *r = z ? em_binary(EM_BIN_ADD, t, z) : NULL;
  em_tensor_release(z);
  lt_push(L, r);
  return 1;
}

static int l_cat(lua_State *L) {
  lt_checktype(L, 1, LUA_TTABLE);
  int n = (int)lua_rawlen(L, 1);
  em_tensor *ts[EM_NODE_MAX_IN];
  if (n < 1) return lt_error(L, "value", "cat: expects a non-empty list of tensors");
  int dim = 0;
  for (int i = 1; i <= n; i++) {   /* positions count in the whole list, not in the groups folded below */
    lua_rawgeti(L, 1, i);
    em_tensor *t = lt_test(L, -1);
    if (!t && luaL_testudata(L, -1, EM_TENSOR_MT)) return lt_error(L, "state", "cat: element %d: tensor was closed", i);
    if (!t) return lt_error(L, "type", "cat: element %d is a %s, expected a tensor", i, luaL_typename(L, -1));
    if (t->ndim == 0) return lt_error(L, "shape", "cat: zero-dimensional tensor (at position %d) cannot be concatenated", i);
    lua_pop(L, 1);
  }
  lua_rawgeti(L, 1, 1);
  em_tensor *first = lt_check(L, -1);
  lua_pop(L, 1);
  if (!lua_isnoneornil(L, 2)) dim = lt_check_dim(L, 2, first->ndim, "cat");
  /* fold groups of up to EM_NODE_MAX_IN tensors so any count works */
  lua_rawgeti(L, 1, 1);
  int i = 2;
  while (i <= n) {
    int k = 1;
    ts[0] = lt_check(L, -1);
    for (; k < EM_NODE_MAX_IN && i <= n; k++, i++) {
      lua_rawgeti(L, 1, i);
      ts[k] = lt_check(L, -1);   /* every element was checked above */
      lua_pop(L, 1);
    }
    lt_push(L, em_cat(k, ts, dim));
    lua_remove(L, -2);
  }
  return 1;
}

/* ---- in place (no autograd: for initialisation and optimizers; refused on tensors that need grad) ---- */

static em_tensor *check_inplace(lua_State *L, const char *fn) { return lt_check_writable(L, 1, fn); }

static int m_fill(lua_State *L) {
  em_tensor *t = check_inplace(L, "fill");
  em_tensor_fill_(t, (float)lt_checknumber(L, 2));
  lua_settop(L, 1);
  return 1;
}

static int m_zero(lua_State *L) { lua_settop(L, 1); lua_pushnumber(L, 0); return m_fill(L); }

static int m_copy(lua_State *L) {
  em_tensor *t = lt_check_writable_each(L, 1, "copy");
  em_tensor *s = lt_to_tensor(L, 2, "copy");
  int rc = em_tensor_copy_(t, s);
  em_tensor_release(s);
  if (rc) return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

static int m_uniform(lua_State *L) {
  em_tensor *t = lt_check_writable_each(L, 1, "uniform");
  if (em_tensor_uniform_(t, em_rng_global(), (float)lt_optnumber(L, 2, 0), (float)lt_optnumber(L, 3, 1)))
    return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

static int m_normal(lua_State *L) {
  em_tensor *t = lt_check_writable_each(L, 1, "normal");
  if (em_tensor_normal_(t, em_rng_global(), (float)lt_optnumber(L, 2, 0), (float)lt_optnumber(L, 3, 1)))
    return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

/* x:add_(y [, alpha]) : x += alpha * y (y a tensor broadcastable to x, or a number) */
static int m_add_(lua_State *L) {
  em_tensor *t = lt_check_writable_each(L, 1, "add_");
  float alpha = (float)lt_optnumber(L, 3, 1);
  em_tensor *y = lt_to_tensor(L, 2, "add_");
  em_tensor *s = alpha == 1.0f ? (em_tensor_retain(y), y) : em_binary_scalar(EM_BIN_MUL, y, alpha, 0);
  em_tensor *r = s ? em_binary(EM_BIN_ADD, t, s) : NULL;
  int rc = r ? (em_same_shape(r, t) ? em_tensor_copy_(t, r) : em_fail("add_: result shape differs from the tensor's")) : -1;
  em_tensor_release(r); em_tensor_release(s); em_tensor_release(y);
  if (rc) return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

static int m_mul_(lua_State *L) {
  em_tensor *t = lt_check_writable_each(L, 1, "mul_");
  em_tensor *y = lt_to_tensor(L, 2, "mul_");
  em_tensor *r = em_binary(EM_BIN_MUL, t, y);
  int rc = r ? (em_same_shape(r, t) ? em_tensor_copy_(t, r) : em_fail("mul_: result shape differs from the tensor's")) : -1;
  em_tensor_release(r); em_tensor_release(y);
  if (rc) return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

static int m_index_select(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int d = lt_check_dim(L, 2, t->ndim, "index_select");
  em_tensor *idx = lt_to_tensor(L, 3, "index_select");
  em_tensor *z = em_binary_scalar(EM_BIN_SUB, idx, 1.0f, 0);   /* 1-based to 0-based */
  em_tensor_release(idx);
  em_tensor *r = z ? em_index_select(t, d, z) : NULL;
  em_tensor_release(z);
  lt_push(L, r);
  return 1;
}

static const luaL_Reg methods[] = {
  {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div}, {"pow", m_pow}, {"maximum", m_maximum},
  {"minimum", m_minimum}, {"eq", m_eq}, {"ne", m_ne}, {"lt", m_lt}, {"le", m_le}, {"gt", m_gt}, {"ge", m_ge},
  {"neg", m_neg}, {"exp", m_exp}, {"log", m_log}, {"sqrt", m_sqrt}, {"abs", m_abs}, {"relu", m_relu},
  {"sigmoid", m_sigmoid}, {"tanh", m_tanh}, {"sin", m_sin}, {"cos", m_cos}, {"sign", m_sign}, {"gelu", m_gelu},
  {"square", m_square}, {"log1p", m_log1p}, {"softplus", m_softplus}, {"clamp", m_clamp},
  {"leaky_relu", m_leaky_relu}, {"sum", m_sum}, {"mean", m_mean}, {"max", m_max}, {"min", m_min},
  {"argmax", m_argmax}, {"argmin", m_argmin}, {"softmax", m_softmax}, {"log_softmax", m_log_softmax},
  {"matmul", m_matmul}, {"mm", m_matmul}, {"reshape", m_reshape}, {"view", m_reshape}, {"t", m_t},
  {"transpose", m_transpose}, {"permute", m_permute}, {"narrow", m_narrow}, {"select", m_select},
  {"expand", m_expand}, {"unsqueeze", m_unsqueeze}, {"squeeze", m_squeeze}, {"flatten", m_flatten},
  {"contiguous", m_contiguous}, {"clone", m_clone}, {"fill", m_fill}, {"zero", m_zero}, {"copy", m_copy},
  {"uniform", m_uniform}, {"normal", m_normal}, {"add_", m_add_}, {"mul_", m_mul_},
  {"index_select", m_index_select}, {NULL, NULL}};

static const luaL_Reg fns[] = {{"where", l_where}, {"cat", l_cat}, {NULL, NULL}};

void ember_open_ops(lua_State *L) {
  ember_tensor_methods(L, methods);
  ember_register(L, fns);
  luaL_getmetatable(L, EM_TENSOR_MT);
  static const luaL_Reg meta[] = {{"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul}, {"__div", m_div},
                                  {"__pow", m_pow}, {"__unm", m_unm}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}
