/* weights.c (binding) - weights for other tools: ember.save_safetensors and ember.save_npz write a flat
   table name -> tensor (a model's state_dict) as core/weights.h describes; ember.load reads those files
   back through lt_load_weights, which it calls when a file's first bytes are not an ember checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atomic.h"
#include "bind.h"
#include "weights.h"

#define WT_BOX_MT "ember.weights.save"

/* what a save collects, in a userdata so that any error on the way frees it (__gc) */
typedef struct wt_box {
  em_wt *ts;
  em_tensor **refs;     /* the contiguous tensors whose data ts borrow */
  size_t n, cap;
  em_wt_meta *meta;     /* keys and values borrowed from the Lua strings (kept alive by their table) */
  size_t nmeta;
} wt_box;

static void box_free(wt_box *b) {
  for (size_t i = 0; i < b->n; i++) em_tensor_release(b->refs[i]);
  free(b->ts);
  free(b->refs);
  free(b->meta);
  memset(b, 0, sizeof *b);
}

static int box_gc(lua_State *L) {
  box_free(luaL_checkudata(L, 1, WT_BOX_MT));
  return 0;
}

/* tensors at index idx (a table name -> tensor) into the box, each made contiguous */
static void collect(lua_State *L, wt_box *b, int idx, const char *fn) {
  if (!lua_istable(L, idx))
    lt_error(L, "type", "%s: tensors must be a table name -> tensor such as model:state_dict() (got %s)", fn,
             luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      lt_error(L, "value", "%s: every key of the table must be a tensor's name (got a %s key)", fn, luaL_typename(L, -2));
    em_tensor *t = lt_test(L, -1);
    if (!t)
      lt_error(L, "type", "%s: '%s' must be a tensor (got %s); give a flat table name -> tensor such as "
               "model:state_dict()", fn, lua_tostring(L, -2), luaL_typename(L, -1));
    if (b->n == b->cap) {
      size_t cap = b->cap ? 2 * b->cap : 16;
      em_wt *ts = realloc(b->ts, cap * sizeof *ts);
      if (ts) b->ts = ts;
      em_tensor **refs = ts ? realloc(b->refs, cap * sizeof *refs) : NULL;
      if (!refs) lt_error(L, "memory", "%s: out of memory", fn);
      b->refs = refs;
      b->cap = cap;
    }
    em_tensor *c = em_tensor_contiguous(t);
    if (!c) lt_raise(L);
    em_wt *w = &b->ts[b->n];
    b->refs[b->n++] = c;
    memset(w, 0, sizeof *w);
    w->name = (char *)lua_tolstring(L, -2, &w->name_len);   /* borrowed: the table keeps it */
    w->ndim = c->ndim;
    memcpy(w->shape, c->shape, sizeof w->shape);
    w->data = em_data(c);
    lua_pop(L, 1);
  }
}

static wt_box *new_box(lua_State *L) {
  wt_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, WT_BOX_MT);
  return b;
}

/* ember.save_safetensors(path, tensors [, metadata]): tensors a table name -> tensor, metadata a table of
   strings (safetensors' "__metadata__"; default {format = "pt"}, what PyTorch tools expect) */
static int wt_save_safetensors(lua_State *L) {
  const char *fn = "ember.save_safetensors";
  const char *path = lt_check_path(L, 1, "save_safetensors");
  lua_settop(L, 3);
  wt_box *b = new_box(L);                                   /* 4 */
  collect(L, b, 2, fn);
  if (lua_isnil(L, 3)) {
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "pt");
    lua_setfield(L, -2, "format");
    lua_replace(L, 3);
  } else if (!lua_istable(L, 3)) {
    lt_error(L, "type", "%s: metadata must be a table of strings (got %s)", fn, luaL_typename(L, 3));
  }
  size_t cap = 0;
  lua_pushnil(L);
  while (lua_next(L, 3)) { cap++; lua_pop(L, 1); }
  b->meta = malloc((cap ? cap : 1) * sizeof *b->meta);
  if (!b->meta) lt_error(L, "memory", "%s: out of memory", fn);
  lua_pushnil(L);
  while (lua_next(L, 3)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      lt_error(L, "type", "%s: metadata must map strings to strings (got %s -> %s)", fn, luaL_typename(L, -2),
               luaL_typename(L, -1));
    size_t kl, vl;
    const char *k = lua_tolstring(L, -2, &kl), *v = lua_tolstring(L, -1, &vl);
    if (strlen(k) != kl || strlen(v) != vl) lt_error(L, "value", "%s: metadata text may not hold a NUL byte", fn);
    b->meta[b->nmeta].key = (char *)k;
    b->meta[b->nmeta++].value = (char *)v;
    lua_pop(L, 1);
  }
  int rc = em_safetensors_write(path, b->ts, b->n, b->meta, b->nmeta);
  box_free(b);
  if (rc) return lt_raise(L);
  return 0;
}

/* ember.save_npz(path, tensors): tensors a table name -> tensor; numpy.load(path)[name] reads each */
static int wt_save_npz(lua_State *L) {
  const char *path = lt_check_path(L, 1, "save_npz");
  lua_settop(L, 2);
  wt_box *b = new_box(L);
  collect(L, b, 2, "ember.save_npz");
  int rc = em_npz_write(path, b->ts, b->n);
  box_free(b);
  if (rc) return lt_raise(L);
  return 0;
}

/* what a load holds until the table is built */
typedef struct load_box { em_wt *ts; size_t n; } load_box;

static int load_box_gc(lua_State *L) {
  load_box *b = lua_touserdata(L, 1);
  em_wt_free(b->ts, b->n);
  b->ts = NULL;
  b->n = 0;
  return 0;
}

int lt_load_weights(lua_State *L, const char *path) {
  unsigned char head[12];
  FILE *f;
  struct stat st;
  if (em_open_regular(path, &f, &st, "load")) return -1;    /* the checkpoint reader says why */
  size_t got = fread(head, 1, sizeof head, f);
  fclose(f);
  int format = em_weights_sniff(head, got);
  if (format == EM_WT_NONE) return -1;
  load_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, load_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  int rc = format == EM_WT_NPZ ? em_npz_read(path, &b->ts, &b->n) : em_safetensors_read(path, &b->ts, &b->n, NULL, NULL);
  if (rc) return lt_raise(L);
  lua_createtable(L, 0, (int)(b->n < 1000000 ? b->n : 0));
  for (size_t i = 0; i < b->n; i++) {
    em_tensor *t = em_tensor_new(b->ts[i].ndim, b->ts[i].shape);
    if (!t) lt_raise(L);                                     /* the box's __gc frees what is left */
    int64_t numel = em_numel(t);
    if (numel) memcpy(em_data(t), b->ts[i].data, (size_t)numel * sizeof(float));
    free(b->ts[i].data);                                     /* one copy of the weights at a time */
    b->ts[i].data = NULL;
    lua_pushlstring(L, b->ts[i].name, b->ts[i].name_len);
    lt_push(L, t);
    lua_rawset(L, -3);
  }
  em_wt_free(b->ts, b->n);
  b->ts = NULL;
  b->n = 0;
  return 1;
}

void ember_open_weights(lua_State *L) {
  static const luaL_Reg fns[] = {{"save_safetensors", wt_save_safetensors}, {"save_npz", wt_save_npz}, {NULL, NULL}};
  lt_gc_metatable(L, WT_BOX_MT, box_gc);
  ember_register(L, fns);
}
