/* nn.c (binding) - the layer kernels as functions of the ember table (ember.linear, ember.conv2d,
   ember.max_pool2d, ember.avg_pool2d, ember.batch_norm, ember.dropout); lua/ember/nn/ builds the
   modules on them. Sizes given as one integer or a table {h, w}. */
#include <string.h>
#include "bind.h"
#include "nn.h"
#include "rng.h"

/* an optional tensor argument: nil/none -> NULL */
static em_tensor *opt_tensor(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : lt_check(L, idx);
}

/* opts[key] as a pair of integers (an integer n means {n, n}); def when absent */
static void get_pair(lua_State *L, int opts, const char *key, const char *fn, const int def[2], int out[2]) {
  out[0] = def[0];
  out[1] = def[1];
  if (opts == 0) return;
  lua_getfield(L, opts, key);
  if (lua_isinteger(L, -1)) {
    lua_Integer v = lua_tointeger(L, -1);
    if (v < -1000000 || v > 1000000) lt_error(L, "value", "%s: %s is out of range (got %I)", fn, key, v);
    out[0] = out[1] = (int)v;
  } else if (lua_istable(L, -1)) {
    for (int k = 0; k < 2; k++) {
      lua_rawgeti(L, -1 - k, k + 1);
      if (!lua_isinteger(L, -1)) lt_error(L, "type", "%s: %s must be an integer or a table of 2 integers", fn, key);
      lua_Integer v = lua_tointeger(L, -1);
      if (v < -1000000 || v > 1000000) lt_error(L, "value", "%s: %s is out of range (got %I)", fn, key, v);
      out[k] = (int)v;
    }
    lua_pop(L, 2);
  } else if (!lua_isnil(L, -1)) {
    lt_error(L, "type", "%s: %s must be an integer or a table of 2 integers (got %s)", fn, key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

static int get_bool(lua_State *L, int opts, const char *key, int def) {
  if (opts == 0) return def;
  lua_getfield(L, opts, key);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int opts_index(lua_State *L, int idx, const char *fn) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (!lua_istable(L, idx)) lt_error(L, "type", "%s: options must be a table (got %s)", fn, luaL_typename(L, idx));
  return idx;
}

/* ember.linear(x, w [, b]) -> x w^T + b */
static int l_linear(lua_State *L) {
  lt_push(L, em_linear(lt_check(L, 1), lt_check(L, 2), opt_tensor(L, 3)));
  return 1;
}

/* ember.conv2d(x, w [, b] [, {stride = 1, padding = 0, dilation = 1, groups = 1}]); padding may be
   "valid" (0) or "same" (stride 1, the output as large as the input: PyTorch pads the dilated kernel's
   span d (k - 1) with the odd one at the bottom and right) */
static int l_conv2d(lua_State *L) {
  em_tensor *x = lt_check(L, 1), *w = lt_check(L, 2), *b = opt_tensor(L, 3);
  int opts = opts_index(L, 4, "conv2d");
  static const int one[2] = {1, 1}, zero[2] = {0, 0};
  em_conv2d_opts o = {{1, 1}, {0, 0}, {1, 1}, {0, 0}, 1};
  get_pair(L, opts, "stride", "conv2d", one, o.stride);
  get_pair(L, opts, "dilation", "conv2d", one, o.dilation);
  const char *mode = NULL;
  if (opts) {
    lua_getfield(L, opts, "padding");
    if (lua_type(L, -1) == LUA_TSTRING) mode = lt_check_string(L, -1, "conv2d", "padding");
    lua_pop(L, 1);
  }
  if (mode && !strcmp(mode, "same")) {
    if (o.stride[0] != 1 || o.stride[1] != 1)
      return lt_error(L, "value", "conv2d: padding \"same\" needs stride 1 (got stride %d x %d)", o.stride[0], o.stride[1]);
    for (int k = 0; k < 2; k++) {
      /* a kernel of size 0 has span -1: its "padding" would be -1/2 and -1%2, refused below in other words */
      if (w->ndim == 4 && w->shape[2 + k] < 1)
        return lt_error(L, "value", "conv2d: padding \"same\" needs a kernel of at least 1 x 1 (got weight [%I x %I x %I x %I])",
                        (lua_Integer)w->shape[0], (lua_Integer)w->shape[1], (lua_Integer)w->shape[2], (lua_Integer)w->shape[3]);
      lua_Integer span = (lua_Integer)o.dilation[k] * (w->ndim == 4 ? w->shape[2 + k] - 1 : 0);
      if (span > 2000000) return lt_error(L, "value", "conv2d: the dilated kernel is too large for padding \"same\"");
      o.padding[k] = (int)(span / 2);
      o.pad_extra[k] = (int)(span % 2);
    }
  } else if (mode && strcmp(mode, "valid")) {
    return lt_error(L, "value", "conv2d: padding must be an integer, a table of 2 integers, \"valid\" or \"same\" (got \"%s\")",
                      mode);
  } else if (!mode) {
    get_pair(L, opts, "padding", "conv2d", zero, o.padding);
  }
  if (opts) {
    lua_getfield(L, opts, "groups");
    if (!lua_isnil(L, -1)) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 1000000)
        return lt_error(L, "value", "conv2d: groups must be an integer >= 1 (got %s)", luaL_tolstring(L, -1, NULL));
      o.groups = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  lt_push(L, em_conv2d(x, w, b, &o));
  return 1;
}

/* ember.max_pool2d / avg_pool2d(x, kernel [, {stride = kernel, padding = 0, dilation = 1,
   ceil_mode = false, count_include_pad = true}]) */
static int pool(lua_State *L, int is_max) {
  const char *fn = is_max ? "max_pool2d" : "avg_pool2d";
  em_tensor *x = lt_check(L, 1);
  static const int one[2] = {1, 1}, zero[2] = {0, 0};
  em_pool2d_opts o;
  lua_createtable(L, 0, 1);   /* {kernel = arg 2}, to parse it like the options */
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "kernel");
  get_pair(L, lua_gettop(L), "kernel", fn, zero, o.kernel);
  lua_pop(L, 1);
  if (lua_isnoneornil(L, 2)) return lt_error(L, "value", "%s: kernel size expected", fn);
  int opts = opts_index(L, 3, fn);
  get_pair(L, opts, "stride", fn, o.kernel, o.stride);
  get_pair(L, opts, "padding", fn, zero, o.padding);
  get_pair(L, opts, "dilation", fn, one, o.dilation);
  o.ceil_mode = get_bool(L, opts, "ceil_mode", 0);
  o.count_include_pad = get_bool(L, opts, "count_include_pad", 1);
  lt_push(L, is_max ? em_max_pool2d(x, &o) : em_avg_pool2d(x, &o));
  return 1;
}
static int l_max_pool2d(lua_State *L) { return pool(L, 1); }
static int l_avg_pool2d(lua_State *L) { return pool(L, 0); }

/* ember.batch_norm(x, weight, bias, running_mean, running_var, training [, momentum = 0.1, eps = 1e-5]);
   weight, bias and the running statistics may be nil */
static int l_batch_norm(lua_State *L) {
  em_tensor *x = lt_check(L, 1);
  em_tensor *w = opt_tensor(L, 2), *b = opt_tensor(L, 3), *rm = opt_tensor(L, 4), *rv = opt_tensor(L, 5);
  int training = lua_toboolean(L, 6);
  float momentum = (float)lt_optnumber(L, 7, 0.1), eps = (float)lt_optnumber(L, 8, 1e-5);
  lt_push(L, em_batch_norm(x, w, b, rm, rv, training, momentum, eps));
  return 1;
}

/* ember.dropout(x, p [, training = true]): x itself when not training */
static int l_dropout(lua_State *L) {
  em_tensor *x = lt_check(L, 1);
  float p = (float)lt_checknumber(L, 2);
  if (!lt_optboolean(L, 3, 1)) { lua_settop(L, 1); return 1; }
  lt_push(L, em_dropout(x, p, em_rng_global()));
  return 1;
}

/* ember.set_conv_kernel(name): "auto" (default), "im2col", or "direct-avx2" (tests); the choice in
   words is ember.blas().conv */
static int l_set_conv_kernel(lua_State *L) {
  if (em_conv2d_set_kernel(lt_check_string(L, 1, "set_conv_kernel", "the kernel name"))) return lt_raise(L);
  return 0;
}

static const luaL_Reg fns[] = {
  {"set_conv_kernel", l_set_conv_kernel}, {"linear", l_linear}, {"conv2d", l_conv2d}, {"max_pool2d", l_max_pool2d}, {"avg_pool2d", l_avg_pool2d},
  {"batch_norm", l_batch_norm}, {"dropout", l_dropout}, {NULL, NULL}};

void ember_open_nn(lua_State *L) { ember_register(L, fns); }
