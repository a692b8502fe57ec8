/* tensor.c (binding) - the tensor userdata: lifetime, conversion from Lua values, creation functions,
   printing, element access and the tensor's properties (.grad, .requires_grad). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bind.h"
#include "autograd.h"
#include "rng.h"
#include "ops.h"
#include "blas.h"
#include "nn.h"   /* em_conv2d_kernel */

static char mt_key;        /* registry slot of the tensor metatable (faster than a string lookup) */
static char methods_key;   /* registry slot of the method table */

em_tensor *lt_test(lua_State *L, int idx) {
  lt_box *b = lua_touserdata(L, idx);
  if (!b || lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof *b || b->magic != LT_MAGIC) return NULL;
  return b->t;
}

em_tensor *lt_check(lua_State *L, int idx) {
  em_tensor *t = lt_test(L, idx);
  if (!t) {
    if (luaL_testudata(L, idx, EM_TENSOR_MT)) lt_closed_error(L, idx);
    lt_argerror(L, idx, "type", "a tensor");
  }
  return t;
}

em_tensor *lt_check_writable(lua_State *L, int idx, const char *fn) {
  em_tensor *t = lt_check(L, idx);
  if (em_grad_enabled() && t->requires_grad)
    lt_error(L, "state", "%s: in-place change of a tensor that requires grad; wrap it in ember.no_grad(function() ... end)", fn);
  if (em_grad_enabled() && t->grad_view)
    lt_error(L, "state", "%s: in-place change of a view, made under no_grad, of a tensor that requires grad; make the "
               "change under ember.no_grad too", fn);
  return t;
}

em_tensor *lt_check_writable_each(lua_State *L, int idx, const char *fn) {
  em_tensor *t = lt_check_writable(L, idx, fn);
  if (em_tensor_shares_elements(t)) {
    char sb[EM_SHAPE_BUF];
    lt_error(L, "state", "%s: %s is an expanded view whose elements share memory; clone() it first", fn,
             em_tensor_shape_str(sb, sizeof sb, t));
  }
  return t;
}

/* bytes reported to the collector so far; growth beyond it becomes GC work */
static int64_t reported;

void lt_gc_account(lua_State *L) {
  int64_t live = em_live_bytes();
  if (live < reported) reported = live;
  else if (live - reported > 256 * 1024) {
    int kb = (int)((live - reported) >> 10);
    reported = live;
    lua_gc(L, LUA_GCSTEP, kb);
  }
}

void lt_push(lua_State *L, em_tensor *t) {
  if (!t) lt_raise(L);
  lt_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->t = NULL;   /* consistent before it can be collected */
  b->magic = LT_MAGIC;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mt_key);
  lua_setmetatable(L, -2);
  b->t = t;
  lt_gc_account(L);
}

/* __gc and __close: may run twice. Reachable by hand (getmetatable(x).__gc(io.stdout)), so the
   argument must be a tensor's box, open or closed: liolib's own __gc checks its argument the same way. */
static int tensor_gc(lua_State *L) {
  lt_box *b = luaL_checkudata(L, 1, EM_TENSOR_MT);
  if (b->t) { em_tensor_release(b->t); b->t = NULL; }
  return 0;
}

int lt_check_dim(lua_State *L, int idx, int ndim, const char *fn) {
  int ok;
  lua_Integer d = lua_tointegerx(L, idx, &ok);   /* idx may be a list's item on top (permute): no argument number */
  if (!ok) {
    const char *kind = lua_isnumber(L, idx) ? "value" : "type";   /* before lt_got pushes: idx may be -1 */
    return lt_error(L, kind, "%s: a dimension must be an integer (got %s)", fn, lt_got(L, idx));
  }
  int lim = ndim > 0 ? ndim : 1;
  if (d == 0 || d > lim || d < -lim)
    return lt_error(L, "value", "%s: dimension %I out of range for a %d-d tensor (expected 1..%d or -%d..-1)", fn, d,
                      ndim, lim, lim);
  return d > 0 ? (int)d - 1 : (int)d + lim;
}

int lt_check_shape(lua_State *L, int first, int64_t shape[EM_MAX_DIMS], const char *fn) {
  int n = 0;
  if (lua_istable(L, first)) {
    n = (int)lua_rawlen(L, first);
    if (n > EM_MAX_DIMS) lt_error(L, "shape", "%s: at most %d dimensions (got %d)", fn, EM_MAX_DIMS, n);
    for (int i = 0; i < n; i++) {
      lua_rawgeti(L, first, i + 1);
      int ok;
      lua_Integer v = lua_tointegerx(L, -1, &ok);
      if (!ok || v < 0) lt_error(L, "value", "%s: size %d must be a non-negative integer (got %s)", fn, i + 1, luaL_tolstring(L, -1, NULL));
      shape[i] = v;
      lua_pop(L, 1);
    }
    return n;
  }
  int top = lua_gettop(L);
  for (int i = first; i <= top && lua_type(L, i) == LUA_TNUMBER; i++) {
    if (n == EM_MAX_DIMS) lt_error(L, "shape", "%s: at most %d dimensions", fn, EM_MAX_DIMS);
    int ok;
    lua_Integer v = lua_tointegerx(L, i, &ok);
    if (!ok || v < 0) lt_error(L, "value", "%s: size %d must be a non-negative integer (got %s)", fn, n + 1, lua_tostring(L, i));
    shape[n++] = v;
  }
  return n;
}

/* ---- nested tables ---- */

static void table_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape, const char *fn) {
  if (depth >= EM_MAX_DIMS) lt_error(L, "shape", "%s: nested table is deeper than %d levels", fn, EM_MAX_DIMS);
  int64_t n = (int64_t)lua_rawlen(L, idx);
  shape[depth] = n;
  *ndim = depth + 1;
  if (n == 0) return;
  lua_rawgeti(L, idx, 1);
  if (lua_istable(L, -1)) table_shape(L, lua_gettop(L), depth + 1, ndim, shape, fn);
  lua_pop(L, 1);
}

static void table_fill(lua_State *L, int idx, int depth, int ndim, const int64_t *shape, float **out,
                       char *path, const char *fn) {
  int64_t n = (int64_t)lua_rawlen(L, idx);
  size_t plen = strlen(path);
  if (n != shape[depth])
    lt_error(L, "shape", "%s: ragged nested table at %s: expected %d elements, got %d", fn, *path ? path : "top level",
               (int)shape[depth], (int)n);
  for (int64_t i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i);
    snprintf(path + plen, 256 - plen, "[%lld]", (long long)i);
    if (depth == ndim - 1) {
      int ok;
      lua_Number v = lua_tonumberx(L, -1, &ok);
      if (!ok) {
        if (lua_isboolean(L, -1)) v = lua_toboolean(L, -1);
        else lt_error(L, "type", "%s: element %s is a %s, expected a number", fn, path, luaL_typename(L, -1));
      }
      *(*out)++ = (float)v;
    } else {
      if (!lua_istable(L, -1))
        lt_error(L, "type", "%s: element %s is a %s, expected a table (ragged nesting)", fn, path, luaL_typename(L, -1));
      table_fill(L, lua_gettop(L), depth + 1, ndim, shape, out, path, fn);
    }
    lua_pop(L, 1);
    path[plen] = '\0';
  }
}

/* the new tensor is pushed (anchored on the stack) before filling, so a ragged-table error cannot leak it */
static em_tensor *from_table(lua_State *L, int idx, const char *fn) {
  idx = lua_absindex(L, idx);
  int ndim = 0;
  int64_t shape[EM_MAX_DIMS];
  table_shape(L, idx, 0, &ndim, shape, fn);
  em_tensor *t = em_tensor_new(ndim, shape);
  lt_push(L, t);
  char path[256] = "";
  float *p = t->storage->data;
  table_fill(L, idx, 0, ndim, shape, &p, path, fn);
  em_tensor_retain(t);
  lua_pop(L, 1);
  return t;
}

em_tensor *lt_to_tensor(lua_State *L, int idx, const char *fn) {
  em_tensor *t = lt_test(L, idx);
  if (t) { em_tensor_retain(t); return t; }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    t = em_tensor_scalar((float)lua_tonumber(L, idx));
    if (!t) lt_raise(L);
    return t;
  }
  if (lua_istable(L, idx)) return from_table(L, idx, fn);
  if (luaL_testudata(L, idx, EM_TENSOR_MT)) lt_error(L, "state", "%s: tensor was closed", fn);
  lt_error(L, "type", "%s: expected a tensor, number or table (got %s)", fn, luaL_typename(L, idx));
  return NULL;
}

/* ---- creation ---- */

static int l_tensor(lua_State *L) {
  if (lt_test(L, 1)) { lt_push(L, em_tensor_clone(lt_check(L, 1))); return 1; }
  if (lua_type(L, 1) == LUA_TNUMBER) { lt_push(L, em_tensor_scalar((float)lua_tonumber(L, 1))); return 1; }
  lt_checktype(L, 1, LUA_TTABLE);
  em_tensor *t = from_table(L, 1, "tensor");
  lt_push(L, t);
  if (lua_toboolean(L, 2) && lua_istable(L, 2)) {   /* ember.tensor(data, {requires_grad = true}) */
    lua_getfield(L, 2, "requires_grad");
    t->requires_grad = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return 1;
}

static int create(lua_State *L, const char *fn, int kind) {
  int64_t shape[EM_MAX_DIMS];
  int n = lt_check_shape(L, 1, shape, fn);
  if (em_check_shape(fn, n, shape)) return lt_raise(L);
  em_tensor *t = NULL;
  switch (kind) {
  case 0: t = em_tensor_zeros(n, shape); break;
  case 1: t = em_tensor_full(n, shape, 1.0f); break;
  case 2: t = em_tensor_new(n, shape); if (t && em_tensor_normal_(t, em_rng_global(), 0.0f, 1.0f)) goto fail; break;
  case 3: t = em_tensor_new(n, shape); if (t && em_tensor_uniform_(t, em_rng_global(), 0.0f, 1.0f)) goto fail; break;
  case 4: t = em_tensor_zeros(n, shape); break;
  }
  lt_push(L, t);
  return 1;
fail:
  em_tensor_release(t);
  return lt_raise(L);
}

static int l_zeros(lua_State *L) { return create(L, "zeros", 0); }
static int l_ones(lua_State *L) { return create(L, "ones", 1); }
static int l_randn(lua_State *L) { return create(L, "randn", 2); }
static int l_rand(lua_State *L) { return create(L, "rand", 3); }
static int l_empty(lua_State *L) { return create(L, "empty", 4); }

static int l_full(lua_State *L) {
  int64_t shape[EM_MAX_DIMS];
  int n = lt_check_shape(L, 1, shape, "full");
  float v = (float)lt_checknumber(L, lua_istable(L, 1) ? 2 : n + 1);
  if (em_check_shape("full", n, shape)) return lt_raise(L);
  lt_push(L, em_tensor_full(n, shape, v));
  return 1;
}

/* arange(stop) or arange(start, stop [, step]): stop excluded, as torch.arange */
static int l_arange(lua_State *L) {
  double a = lt_checknumber(L, 1);
  if (lua_isnoneornil(L, 2)) { lt_push(L, em_tensor_arange(0, a, 1)); return 1; }
  lt_push(L, em_tensor_arange(a, lt_checknumber(L, 2), lt_optnumber(L, 3, 1)));
  return 1;
}

static int l_like(lua_State *L, float v) {
  em_tensor *t = lt_check(L, 1);
  lt_push(L, em_tensor_full(t->ndim, t->shape, v));
  return 1;
}
static int l_zeros_like(lua_State *L) { return l_like(L, 0.0f); }
static int l_ones_like(lua_State *L) { return l_like(L, 1.0f); }

static int l_manual_seed(lua_State *L) {
  lua_Integer s = lt_checkinteger(L, 1);
  em_rng_seed(em_rng_global(), (uint64_t)s);
  return 0;
}

static int l_get_rng_state(lua_State *L) {
  unsigned char st[EM_RNG_STATE_BYTES];
  em_rng_get_state(em_rng_global(), st);
  lua_pushlstring(L, (const char *)st, sizeof st);
  return 1;
}

static int l_set_rng_state(lua_State *L) {
  size_t len;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
  if (!s || len != EM_RNG_STATE_BYTES) lt_argerror(L, 1, "value", "an RNG state from ember.get_rng_state");
  em_rng_set_state(em_rng_global(), (const unsigned char *)s);
  return 0;
}

static int l_set_num_threads(lua_State *L) {
  int is_int;
  lua_Integer n = lua_tointegerx(L, 1, &is_int);
  if (!is_int) n = 0;
  if (n < 1 || n > EM_MAX_THREADS)
    return lt_error(L, "value", "set_num_threads: the thread count must be an integer from 1 to %d (got %s)",
                    EM_MAX_THREADS, lua_type(L, 1) == LUA_TNUMBER || lua_type(L, 1) == LUA_TSTRING
                                    ? luaL_tolstring(L, 1, NULL) : luaL_typename(L, 1));
  em_set_num_threads((int)n);
  return 0;
}

static int l_get_num_threads(lua_State *L) { lua_pushinteger(L, em_get_num_threads()); return 1; }
static int l_blas(lua_State *L) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, em_blas_kernel()); lua_setfield(L, -2, "kernel");
  lua_pushstring(L, em_conv2d_kernel()); lua_setfield(L, -2, "conv");
  lua_pushstring(L, em_blas_info()); lua_setfield(L, -2, "info");
  lua_pushinteger(L, em_get_num_threads()); lua_setfield(L, -2, "threads");
  return 1;
}

static int l_is_tensor(lua_State *L) { lua_pushboolean(L, lt_test(L, 1) != NULL); return 1; }

/* ---- printing ---- */

/* As PyTorch: a tensor of more than SUMMARY_AT elements shows only the first and last EDGE entries of
   each dimension longer than 2 EDGE, and the number format comes from the entries shown. So printing
   costs at most (2 EDGE)^8 entries whatever the shape (an expand to 2^40 elements included). */
#define SUMMARY_AT 1000
#define EDGE 3

typedef struct {
  luaL_Buffer *b;
  const em_tensor *t;
  int summarize;
  int width, prec, sci, ints;   /* the format */
  double amax, amin;            /* the range of the finite entries shown */
} printer;

/* the first index of dimension d that is left out (n when none is) */
static int64_t cut_at(const printer *p, int d) {
  int64_t n = p->t->shape[d];
  return p->summarize && n > 2 * EDGE ? EDGE : n;
}

static int value_text(const printer *p, float v, char *s, size_t len) {
  if (isnan(v)) return snprintf(s, len, "nan");
  if (isinf(v)) return snprintf(s, len, v > 0 ? "inf" : "-inf");
  if (p->ints) return snprintf(s, len, "%.0f", (double)v);
  if (p->sci) return snprintf(s, len, "%.*e", p->prec, (double)v);
  return snprintf(s, len, "%.*f", p->prec, (double)v);
}

/* one entry shown: pass 0 gathers the range of the values, pass 1 the width of the column */
static void note(printer *p, int pass, float v) {
  if (pass == 1) {
    char s[64];
    int l = value_text(p, v, s, sizeof s);
    if (l > p->width) p->width = l;
  } else if (isfinite(v)) {
    if (v != floorf(v)) p->ints = 0;
    double a = fabs(v);
    if (a > p->amax) p->amax = a;
    if (a > 0 && a < p->amin) p->amin = a;
  }
}

/* notes every entry shown, in order */
static void scan(printer *p, int pass, int d, int64_t off) {
  const em_tensor *t = p->t;
  if (t->ndim == 0) { note(p, pass, t->storage->data[off]); return; }
  int64_t n = t->shape[d], cut = cut_at(p, d);
  for (int64_t i = 0; i < n; i++) {
    if (i == cut) i = n - EDGE;
    int64_t o = off + i * t->stride[d];
    if (d < t->ndim - 1) scan(p, pass, d + 1, o);
    else note(p, pass, t->storage->data[o]);
  }
}

static void put_value(printer *p, float v) {
  char s[64];
  for (int k = value_text(p, v, s, sizeof s); k < p->width; k++) luaL_addchar(p->b, ' ');
  luaL_addstring(p->b, s);
}

static void put_dim(printer *p, int d, int64_t off, int indent) {
  const em_tensor *t = p->t;
  int64_t n = t->shape[d], cut = cut_at(p, d);
  luaL_addchar(p->b, '[');
  for (int64_t i = 0; i < n; i++) {
    if (i == cut) {
      luaL_addstring(p->b, d == t->ndim - 1 ? "..., " : "...,\n");
      if (d != t->ndim - 1) for (int k = 0; k < indent + 1; k++) luaL_addchar(p->b, ' ');
      i = n - EDGE;
    }
    int64_t o = off + i * t->stride[d];
    if (d == t->ndim - 1) put_value(p, t->storage->data[o]);
    else put_dim(p, d + 1, o, indent + 1);
    if (i < n - 1) {
      luaL_addchar(p->b, ',');
      if (d == t->ndim - 1) luaL_addchar(p->b, ' ');
      else {
        for (int k = d; k < t->ndim - 1; k++) luaL_addchar(p->b, '\n');
        for (int k = 0; k < indent + 1; k++) luaL_addchar(p->b, ' ');
      }
    }
  }
  luaL_addchar(p->b, ']');
}

static int tensor_tostring(lua_State *L) {
  lt_box *b = luaL_checkudata(L, 1, EM_TENSOR_MT);
  if (!b->t) { lua_pushstring(L, "tensor (closed)"); return 1; }
  em_tensor *t = b->t;
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  int64_t n = em_numel(t);
  printer p = {.b = &buf, .t = t, .summarize = n > SUMMARY_AT, .prec = 4, .ints = 1, .amin = INFINITY};
  luaL_addstring(&buf, "tensor(");
  if (n == 0) luaL_addstring(&buf, "[]");   /* PyTorch's tensor([], size=...): no rows of nothing */
  else {
    scan(&p, 0, 0, t->offset);   /* the format from the range of the values, as PyTorch's */
    if (!p.ints && (p.amax >= 1e8 || (p.amin < 1e-4 && p.amin > 0) || (p.amax / p.amin > 1e3 && p.amax > 1e3)))
      p.sci = 1;
    scan(&p, 1, 0, t->offset);
    if (t->ndim == 0) put_value(&p, t->storage->data[t->offset]);
    else put_dim(&p, 0, t->offset, 7);
  }
  char sb[EM_SHAPE_BUF];
  luaL_addstring(&buf, ", shape ");
  luaL_addstring(&buf, em_tensor_shape_str(sb, sizeof sb, t));
  if (t->grad_fn) { luaL_addstring(&buf, ", grad_fn "); luaL_addstring(&buf, t->grad_fn->name); }
  else if (t->requires_grad) luaL_addstring(&buf, ", requires_grad");
  luaL_addchar(&buf, ')');
  luaL_pushresult(&buf);
  return 1;
}

/* ---- element access and properties ---- */

static void push_table(lua_State *L, const em_tensor *t, int d, int64_t off) {
  if (t->ndim == 0) { lua_pushnumber(L, t->storage->data[off]); return; }
  int64_t n = t->shape[d];
  lua_createtable(L, n <= INT_MAX ? (int)n : 0, 0);
  for (int64_t i = 0; i < n; i++) {
    int64_t o = off + i * t->stride[d];
    if (d == t->ndim - 1) lua_pushnumber(L, t->storage->data[o]);
    else push_table(L, t, d + 1, o);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static int m_totable(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  /* one Lua table per row of every level, one number per element: zeros(2^40, 0) alone would make 2^40
     empty tables, so the count is bounded before anything is made */
  double values = (double)em_numel(t), rows = 1;
  for (int d = 0; d + 1 < t->ndim; d++) values += rows *= (double)t->shape[d];
  if (values > (double)INT32_MAX) {
    char sb[EM_SHAPE_BUF];
    return lt_error(L, "value", "totable: %s would make %I Lua values; index or narrow it first",
                    em_tensor_shape_str(sb, sizeof sb, t), (lua_Integer)values);
  }
  luaL_checkstack(L, 2 * t->ndim + 4, "totable");
  push_table(L, t, 0, t->offset);
  return 1;
}

static int m_item(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  if (em_numel(t) != 1) {
    char sb[EM_SHAPE_BUF];
    return lt_error(L, "shape", "item: tensor %s has %I elements, expected 1", em_tensor_shape_str(sb, sizeof sb, t),
                      (lua_Integer)em_numel(t));
  }
  lua_pushnumber(L, em_get_flat(t, 0));
  return 1;
}

static int m_shape(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) { lua_pushinteger(L, t->shape[i]); lua_rawseti(L, -2, i + 1); }
  return 1;
}

static int m_size(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  if (lua_isnoneornil(L, 2)) return m_shape(L);
  lua_pushinteger(L, t->shape[lt_check_dim(L, 2, t->ndim, "size")]);
  return 1;
}

static int m_dim(lua_State *L) { lua_pushinteger(L, lt_check(L, 1)->ndim); return 1; }
static int m_numel(lua_State *L) { lua_pushinteger(L, em_numel(lt_check(L, 1))); return 1; }
static int m_is_contiguous(lua_State *L) { lua_pushboolean(L, em_is_contiguous(lt_check(L, 1))); return 1; }

static int m_grad_required(lua_State *L) { lua_pushboolean(L, lt_check(L, 1)->requires_grad); return 1; }

/* x:requires_grad([on = true]) -> x (chains: ember.randn(3, 1):requires_grad()) */
static int m_requires_grad(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  int on = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  if (!on && t->grad_fn) return lt_error(L, "state", "requires_grad: cannot turn it off on a non-leaf tensor (use detach())");
  t->requires_grad = on;
  lua_settop(L, 1);
  return 1;
}

/* the i of x[i] (a number): an integer, or 2.0 */
static lua_Integer check_index(lua_State *L) {
  int ok;
  lua_Integer i = lua_tointegerx(L, 2, &ok);
  if (!ok) lt_error(L, "value", "index: the index must be an integer (got %s)", lt_got(L, 2));
  return i;
}

/* x.grad, x.requires_grad, x.is_leaf, x.grad_fn; x[i] selects along the first dim */
static int tensor_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  em_tensor *t = lt_check(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    if (t->ndim == 0) return lt_error(L, "shape", "index: cannot index a 0-d tensor");
    lua_Integer i = check_index(L);
    if (i < 1 || i > t->shape[0]) return lt_error(L, "value", "index: %I is out of range 1..%I", i, (lua_Integer)t->shape[0]);
    lt_push(L, em_select(t, 0, i - 1));
    return 1;
  }
  size_t klen;
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &klen) : NULL;
  if (!k || strlen(k) != klen) return 0;                  /* "grad\0x" is no field */
  if (!strcmp(k, "grad")) {
    if (t->grad) { em_tensor_retain(t->grad); lt_push(L, t->grad); }
    else lua_pushnil(L);
    return 1;
  }
  if (!strcmp(k, "is_leaf")) { lua_pushboolean(L, t->grad_fn == NULL); return 1; }
  if (!strcmp(k, "grad_fn")) { if (t->grad_fn) lua_pushstring(L, t->grad_fn->name); else lua_pushnil(L); return 1; }
  return 0;
}

static int tensor_newindex(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lt_check_writable(L, 1, "index");
    lua_Integer i = check_index(L);
    if (t->ndim == 0 || i < 1 || i > t->shape[0])
      return lt_error(L, "value", "index: %I is out of range 1..%I", i, (lua_Integer)(t->ndim ? t->shape[0] : 0));
    em_tensor *row = em_tensor_select_raw(t, 0, i - 1);
    if (!row) return lt_raise(L);
    if (lua_type(L, 3) == LUA_TNUMBER) { em_tensor_fill_(row, (float)lua_tonumber(L, 3)); em_tensor_release(row); return 0; }
    em_tensor *src = lt_test(L, 3);
    int rc = src ? em_tensor_copy_(row, src) : em_fail("index: assign a number or a tensor");
    em_tensor_release(row);
    return rc ? lt_raise(L) : 0;
  }
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (!k) return lt_error(L, "value", "tensor has no settable field of type %s", luaL_typename(L, 2));
  if (strlen(k) != lua_rawlen(L, 2)) return lt_error(L, "value", "tensor has no settable field '%s\\0...' (a NUL byte)", k);
  if (!strcmp(k, "grad")) {
    em_tensor *g = lua_isnil(L, 3) ? NULL : lt_check(L, 3);
    if (g && !em_same_shape(g, t)) return lt_error(L, "shape", "grad: shape does not match the tensor");
    em_tensor *c = g ? em_tensor_clone(g) : NULL;
    if (g && !c) return lt_raise(L);
    em_tensor_release(t->grad);
    t->grad = c;
    return 0;
  }
  if (!strcmp(k, "requires_grad")) {
    if (!lua_isboolean(L, 3))   /* "no" would be true */
      return lt_error(L, "type", "requires_grad: must be set to true or false (got %s)", lt_got(L, 3));
    int on = lua_toboolean(L, 3);
    if (!on && t->grad_fn) return lt_error(L, "state", "requires_grad: cannot turn it off on a non-leaf tensor (use detach())");
    t->requires_grad = on;
    return 0;
  }
  return lt_error(L, "value", "tensor has no settable field '%s'", k);
}

static int tensor_len(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  lua_pushinteger(L, t->ndim ? t->shape[0] : 0);
  return 1;
}

void ember_register(lua_State *L, const luaL_Reg *fns) { luaL_setfuncs(L, fns, 0); }

void lt_gc_metatable(lua_State *L, const char *name, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

void lt_push_methods(lua_State *L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &methods_key); }

void ember_tensor_methods(lua_State *L, const luaL_Reg *fns) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &methods_key);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}

static const luaL_Reg tensor_fns[] = {
  {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"randn", l_randn}, {"rand", l_rand},
  {"empty", l_empty}, {"full", l_full}, {"arange", l_arange}, {"zeros_like", l_zeros_like},
  {"ones_like", l_ones_like}, {"manual_seed", l_manual_seed}, {"get_rng_state", l_get_rng_state},
  {"set_rng_state", l_set_rng_state}, {"set_num_threads", l_set_num_threads},
  {"get_num_threads", l_get_num_threads}, {"blas", l_blas}, {"is_tensor", l_is_tensor}, {NULL, NULL}};

static const luaL_Reg tensor_methods[] = {
  {"totable", m_totable}, {"tolist", m_totable}, {"item", m_item}, {"shape", m_shape}, {"size", m_size},
  {"dim", m_dim}, {"numel", m_numel}, {"is_contiguous", m_is_contiguous}, {"requires_grad", m_requires_grad},
  {"grad_required", m_grad_required}, {NULL, NULL}};

void ember_open_tensor(lua_State *L) {
  /* method table, reached from __index */
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &methods_key);
  luaL_newmetatable(L, EM_TENSOR_MT);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &mt_key);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, tensor_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, tensor_newindex); lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, tensor_gc); lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tensor_gc); lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tensor_tostring); lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, tensor_len); lua_setfield(L, -2, "__len");
  lua_pushstring(L, "ember.Tensor"); lua_setfield(L, -2, "__name");
  lua_pop(L, 2);
  ember_tensor_methods(L, tensor_methods);
  ember_register(L, tensor_fns);
}
