/* data.c (binding) - the low-level data functions behind lua/ember/data.lua: IDX and CSV readers, the
   row gatherer that refills a reused batch tensor, shuffled index orders, feature statistics and the
   synthetic regression generator. They are ember._name: data.lua builds the dataset objects on them. */
#include <math.h>
#include <string.h>
#include "bind.h"
#include "data.h"
#include "rng.h"

/* ember._idx_read(path) -> tensor: (N, 1, H, W) in [0, 1] for images, (N) class indices for labels */
static int l_idx_read(lua_State *L) {
  lt_push(L, em_idx_read(lt_check_path(L, 1, "idx")));
  return 1;
}

/* ember._idx_pair(images, labels) -> x, y with equal sample counts */
static int l_idx_pair(lua_State *L) {
  const char *images = lt_check_path(L, 1, "idx"), *labels = lt_check_path(L, 2, "idx");
  em_tensor *x, *y;
  if (em_idx_read_pair(images, labels, &x, &y) < 0) return lt_raise(L);
  lt_push(L, x);
  lt_push(L, y);
  return 2;
}

/* ember._csv_read(path [, sep = ","] [, header = true]) -> tensor (rows, cols), {names} */
static int l_csv_read(lua_State *L) {
  const char *path = lt_check_path(L, 1, "csv");
  size_t n = 1;
  const char *sep = luaL_optlstring(L, 2, ",", &n);
  if (n != 1) lt_argerror(L, 2, "value", "one character (the separator)");
  int header = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  lua_createtable(L, 0, 0);   /* allocated before the parse: nothing to free if this raises */
  em_csv c;
  if (em_csv_load(path, sep[0], header, &c) < 0) return lt_raise(L);
  em_tensor *t = em_csv_tensor(&c);
  if (!t) { em_csv_free(&c); return lt_raise(L); }
  /* the Lua calls below can only fail on memory; copy the names first so the table owns them */
  for (int64_t j = 0; j < c.cols; j++) {
    lua_pushstring(L, c.names[j]);
    lua_rawseti(L, -2, (lua_Integer)j + 1);
  }
  em_csv_free(&c);
  lt_push(L, t);
  lua_insert(L, -2);
  return 2;
}

/* a 1-based index value from a tensor or table entry, as a 0-based row of the n rows; checked here,
   before the 1-based value is shifted */
static int64_t index_at(lua_State *L, int arg, em_tensor *it, int64_t k, int64_t n) {
  lua_Integer i;
  double v;
  if (it) v = em_get_flat(it, k);
  else {
    lua_geti(L, arg, (lua_Integer)k + 1);
    int ok;
    i = lua_tointegerx(L, -1, &ok);
    v = (double)lua_tonumberx(L, -1, NULL);
    if (!ok && !lua_isnumber(L, -1))
      return lt_error(L, "type", "gather_rows: index %I is not a number", (lua_Integer)k + 1);
    lua_pop(L, 1);
    if (ok) goto check;
  }
  if (v != floor(v)) return lt_error(L, "value", "gather_rows: index %f is not an integer", v);
  if (!(v >= 1 && v <= (double)n)) return lt_error(L, "value", "gather_rows: index %f out of range for %I rows", v, (lua_Integer)n);
  i = (lua_Integer)v;
check:
  if (i < 1 || i > n) return lt_error(L, "value", "gather_rows: index %I out of range for %I rows", i, (lua_Integer)n);
  return (int64_t)i - 1;
}

/* ember._gather_rows(dst, src, idx | nil [, start = 1]) -> dst: dst's B rows become the rows
   idx[start], ..., idx[start + B - 1] of src (idx a tensor or table of 1-based indices), or the rows
   start .. start + B - 1 when idx is nil. */
static int l_gather_rows(lua_State *L) {
  em_tensor *dst = lt_check(L, 1), *src = lt_check(L, 2);
  em_tensor *it = lt_test(L, 3);
  if (!it && !lua_isnoneornil(L, 3)) lt_checktype(L, 3, LUA_TTABLE);
  lua_Integer start = lt_optinteger(L, 4, 1);
  int64_t B = dst->ndim >= 1 ? dst->shape[0] : 0;
  if (start < 1) return lt_error(L, "value", "gather_rows: start must be >= 1 (got %I)", start);
  if (lua_isnoneornil(L, 3)) {
    if (em_gather_rows(dst, src, NULL, (int64_t)start - 1) < 0) return lt_raise(L);
    lua_settop(L, 1);
    return 1;
  }
  int64_t have = it ? em_numel(it) : (int64_t)luaL_len(L, 3);
  if (B > have - (start - 1))
    return lt_error(L, "value", "gather_rows: %I indices from position %I, but the index list has %I", (lua_Integer)B,
                      start, (lua_Integer)have);
  int64_t small[1024];
  int64_t *idx = small;
  if (B > 1024) idx = lua_newuserdatauv(L, (size_t)B * sizeof *idx, 0);   /* freed by the GC */
  int64_t rows = src->ndim >= 1 ? src->shape[0] : 0;
  for (int64_t k = 0; k < B; k++) idx[k] = index_at(L, 3, it, (int64_t)start - 1 + k, rows);
  if (em_gather_rows(dst, src, idx, 0) < 0) return lt_raise(L);
  lua_settop(L, 1);
  return 1;
}

/* floats hold every integer up to 2^24 exactly: the limit of index tensors */
#define MAX_INDEX_ROWS ((lua_Integer)1 << 24)

/* ember._index_order(n [, shuffle = false]) -> tensor (n) of 1..n, shuffled by ember's global RNG */
static int l_index_order(lua_State *L) {
  lua_Integer n = lt_checkinteger(L, 1);
  int shuffle = lua_toboolean(L, 2);
  if (n < 1 || n > MAX_INDEX_ROWS)
    return lt_error(L, "value", "index_order: n must be in 1..%I (got %I)", MAX_INDEX_ROWS, n);
  int64_t len = (int64_t)n;
  em_tensor *t = em_tensor_new(1, &len);
  lt_push(L, t);   /* owned by Lua from here on */
  float *o = em_data(t);
  if (shuffle) {
    int64_t *perm = lua_newuserdatauv(L, (size_t)len * sizeof *perm, 0);
    em_rng_permutation(em_rng_global(), len, perm);
    for (int64_t i = 0; i < len; i++) o[i] = (float)(perm[i] + 1);
    lua_pop(L, 1);
  } else {
    for (int64_t i = 0; i < len; i++) o[i] = (float)(i + 1);
  }
  return 1;
}

/* ember._stats(x, "mean_std" | "min_max") -> a, b shaped to broadcast against x */
static int l_stats(lua_State *L) {
  em_tensor *x = lt_check(L, 1);
  static const char *const kinds[] = {"mean_std", "min_max", NULL};
  int kind = lt_checkoption(L, 2, "mean_std", kinds, "\"mean_std\" or \"min_max\"");
  em_tensor *a, *b;
  if (em_data_stats(x, kind == 0 ? EM_STATS_MEAN_STD : EM_STATS_MIN_MAX, &a, &b) < 0) return lt_raise(L);
  lt_push(L, a);
  lt_push(L, b);
  return 2;
}

/* ember._rescale(x, shift, scale) -> (x - shift) / scale per feature group, zero scales counted as 1 */
static int l_rescale(lua_State *L) {
  lt_push(L, em_data_rescale(lt_check(L, 1), lt_check(L, 2), lt_check(L, 3)));
  return 1;
}

/* ember._synthetic_regression(n, features, noise, outliers, outlier_scale [, seed]) -> x, y, w, b, mask.
   With a seed the data come from a private generator, so ember's global RNG stream is untouched. */
static int l_synthetic(lua_State *L) {
  lua_Integer n = lt_checkinteger(L, 1), f = lt_checkinteger(L, 2);
  double noise = lt_checknumber(L, 3), outliers = lt_checknumber(L, 4);
  double scale = lt_checknumber(L, 5);
  em_rng own, *r = em_rng_global();
  if (!lua_isnoneornil(L, 6)) {
    em_rng_seed(&own, (uint64_t)lt_checkinteger(L, 6));
    r = &own;
  }
  em_synthetic s;
  if (em_data_synthetic_regression(r, (int64_t)n, (int64_t)f, noise, outliers, scale, &s) < 0)
    return lt_raise(L);
  lt_push(L, s.x);
  lt_push(L, s.y);
  lt_push(L, s.w);
  lua_pushnumber(L, s.b);
  lt_push(L, s.mask);
  return 5;
}

void ember_open_data(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"_idx_read", l_idx_read}, {"_idx_pair", l_idx_pair}, {"_csv_read", l_csv_read},
    {"_gather_rows", l_gather_rows}, {"_index_order", l_index_order}, {"_stats", l_stats},
    {"_rescale", l_rescale}, {"_synthetic_regression", l_synthetic}, {NULL, NULL}};
  ember_register(L, fns);
}
