/* checkpoint.c (binding) - ember.save / ember.load: a nested Lua table whose leaves are tensors, numbers,
   strings and booleans, flattened into the named entries of core/checkpoint.h and rebuilt on load.

   An entry's name is the key path from the top table. Integer keys are written "[3]"; string keys are
   preceded by "." (left out before a non-empty first key) with "\", "." and "[" escaped by "\". So
   {model = {fc = {weight = w}}, opt = {state = {[1] = {m = t}}}, ["a.b"] = 1, ["1"] = 2, [1] = 3} gives
   "model.fc.weight", "opt.state[1].m", "a\.b", "1" and "[1]": readable, and never ambiguous. A value
   that is not a table is saved under the empty name; an empty table gets an entry of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bind.h"
#include "checkpoint.h"


#define SAVE_MT "ember.checkpoint.save"
#define LOAD_MT "ember.checkpoint.load"
#define CK_MAX_DEPTH 200

/* ------------------------------------------------------------------------------------------------ */
/* save */

typedef struct ck_key {
  const char *s;        /* the key string, owned by the table being walked; NULL for an integer key */
  size_t len;
  lua_Integer i;
} ck_key;

/* Everything save allocates hangs off this userdata, so an unexpected Lua error (out of memory inside
   the Lua API) is cleaned up by __gc; ordinary errors free it explicitly before raising. */
typedef struct save_state {
  em_ck_entry *es;
  em_tensor **ts;       /* per entry: the contiguous tensor whose data the entry borrows, or NULL */
  size_t n, cap;
  ck_key *keys;         /* a stack: each table level sorts its keys at the top */
  size_t nkeys, capkeys;
  char *path;           /* the encoded key path of the value being walked (not '\0'-terminated) */
  size_t plen, pcap;
  char err[1024];
} save_state;

static void save_state_free(save_state *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->es[i].name);
    em_tensor_release(s->ts[i]);
  }
  free(s->es);
  free(s->ts);
  free(s->keys);
  free(s->path);
  s->es = NULL;
  s->ts = NULL;
  s->keys = NULL;
  s->path = NULL;
  s->n = s->cap = s->nkeys = s->capkeys = s->plen = s->pcap = 0;
}

static int save_state_gc(lua_State *L) {
  save_state_free(luaL_checkudata(L, 1, SAVE_MT));
  return 0;
}

static int oom(save_state *s) {
  snprintf(s->err, sizeof s->err, "save: out of memory");
  return -1;
}

/* "save: value at 'a.b' is ...", or "save: value is ..." for the top-level value */
static int fail_at(save_state *s, const char *what) {
  int len = s->plen > 400 ? 400 : (int)s->plen;
  if (s->plen == 0) snprintf(s->err, sizeof s->err, "save: value %s", what);
  else snprintf(s->err, sizeof s->err, "save: value at '%.*s%s' %s", len, s->path, s->plen > 400 ? "..." : "", what);
  return -1;
}

static int path_reserve(save_state *s, size_t extra) {
  if (s->plen + extra <= s->pcap) return 0;
  size_t cap = s->pcap ? s->pcap : 64;
  while (cap < s->plen + extra) cap *= 2;
  char *p = realloc(s->path, cap);
  if (!p) return oom(s);
  s->path = p;
  s->pcap = cap;
  return 0;
}

static int path_push(save_state *s, const ck_key *k) {
  if (!k->s) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "[%lld]", (long long)k->i);
    if (path_reserve(s, (size_t)n)) return -1;
    memcpy(s->path + s->plen, buf, (size_t)n);
    s->plen += (size_t)n;
    return 0;
  }
  if (path_reserve(s, 2 * k->len + 1)) return -1;
  if (s->plen > 0 || k->len == 0) s->path[s->plen++] = '.';
  for (size_t i = 0; i < k->len; i++) {
    char c = k->s[i];
    if (c == '\\' || c == '.' || c == '[') s->path[s->plen++] = '\\';
    s->path[s->plen++] = c;
  }
  return 0;
}

static em_ck_entry *add_entry(save_state *s, int kind) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    em_ck_entry *es = realloc(s->es, cap * sizeof *es);
    if (es) s->es = es;
    em_tensor **ts = es ? realloc(s->ts, cap * sizeof *ts) : NULL;
    if (!ts) { oom(s); return NULL; }
    s->ts = ts;
    s->cap = cap;
  }
  em_ck_entry *e = &s->es[s->n];
  memset(e, 0, sizeof *e);
  e->name = malloc(s->plen + 1);
  if (!e->name) { oom(s); return NULL; }
  if (s->plen) memcpy(e->name, s->path, s->plen);
  e->name[s->plen] = '\0';
  e->name_len = s->plen;
  e->kind = kind;
  s->ts[s->n++] = NULL;
  return e;
}

/* integers first, in order, then strings bytewise: the same state always gives the same file */
static int key_cmp(const void *pa, const void *pb) {
  const ck_key *a = pa, *b = pb;
  if (!a->s || !b->s) {
    if (a->s) return 1;
    if (b->s) return -1;
    return a->i < b->i ? -1 : a->i > b->i;
  }
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, n);
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int walk(lua_State *L, save_state *s, int idx, int visit, int depth);

static int bad_key(lua_State *L, save_state *s) {
  char what[160];
  if (lua_type(L, -2) == LUA_TNUMBER)
    snprintf(what, sizeof what, "has key %.14g; keys must be strings or integers", lua_tonumber(L, -2));
  else
    snprintf(what, sizeof what, "has a %s key; keys must be strings or integers", luaL_typename(L, -2));
  return fail_at(s, what);
}

static int walk_table(lua_State *L, save_state *s, int idx, int visit, int depth) {
  if (depth >= CK_MAX_DEPTH) {
    char what[64];
    snprintf(what, sizeof what, "is nested more than %d tables deep", CK_MAX_DEPTH);
    return fail_at(s, what);
  }
  if (!lua_checkstack(L, 6)) return oom(s);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, visit) != LUA_TNIL) return fail_at(s, "is a table that contains itself (a cycle)");
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, visit);

  size_t base = s->nkeys;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    ck_key k = {NULL, 0, 0};
    if (lua_type(L, -2) == LUA_TSTRING) k.s = lua_tolstring(L, -2, &k.len);
    else if (lua_isinteger(L, -2)) k.i = lua_tointeger(L, -2);
    else return bad_key(L, s);
    lua_pop(L, 1);
    if (s->nkeys == s->capkeys) {
      size_t cap = s->capkeys ? 2 * s->capkeys : 64;
      ck_key *ks = realloc(s->keys, cap * sizeof *ks);
      if (!ks) return oom(s);
      s->keys = ks;
      s->capkeys = cap;
    }
    s->keys[s->nkeys++] = k;
  }
  if (s->nkeys == base) return add_entry(s, EM_CK_TABLE) ? 0 : -1;
  qsort(s->keys + base, s->nkeys - base, sizeof *s->keys, key_cmp);

  for (size_t i = base; i < s->nkeys; i++) {
    ck_key k = s->keys[i];      /* a copy: deeper levels may move the array */
    size_t plen = s->plen;
    if (path_push(s, &k)) return -1;
    if (k.s) lua_pushlstring(L, k.s, k.len);
    else lua_pushinteger(L, k.i);
    lua_rawget(L, idx);
    if (walk(L, s, lua_gettop(L), visit, depth + 1)) return -1;
    lua_pop(L, 1);
    s->plen = plen;
  }
  s->nkeys = base;
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, visit);   /* shared (not cyclic) subtables may appear again elsewhere */
  return 0;
}

static int walk(lua_State *L, save_state *s, int idx, int visit, int depth) {
  em_ck_entry *e;
  switch (lua_type(L, idx)) {
  case LUA_TTABLE:
    return walk_table(L, s, idx, visit, depth);
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      if (!(e = add_entry(s, EM_CK_INTEGER))) return -1;
      e->integer = (int64_t)lua_tointeger(L, idx);
    } else {
      if (!(e = add_entry(s, EM_CK_NUMBER))) return -1;
      e->number = (double)lua_tonumber(L, idx);
    }
    return 0;
  case LUA_TSTRING:
    if (!(e = add_entry(s, EM_CK_STRING))) return -1;
    e->str = (char *)lua_tolstring(L, idx, &e->len);   /* borrowed: the table keeps it alive; only read */
    return 0;
  case LUA_TBOOLEAN:
    if (!(e = add_entry(s, EM_CK_BOOLEAN))) return -1;
    e->boolean = lua_toboolean(L, idx);
    return 0;
  case LUA_TUSERDATA: {
    em_tensor *t = lt_test(L, idx);
    if (!t) {
      int closed = luaL_testudata(L, idx, EM_TENSOR_MT) != NULL;
      return fail_at(s, closed ? "is a closed tensor" : "is a userdata that is not a tensor");
    }
    if (!(e = add_entry(s, EM_CK_TENSOR))) return -1;
    em_tensor *c = em_tensor_contiguous(t);
    if (!c) return fail_at(s, em_error());
    s->ts[s->n - 1] = c;
    e->ndim = c->ndim;
    memcpy(e->shape, c->shape, sizeof e->shape);
    e->data = em_data(c);
    return 0;
  }
  default: {
    char what[64];
    snprintf(what, sizeof what, "is a %s", luaL_typename(L, idx));
    return fail_at(s, what);
  }
  }
}

/* ember.save(path, value): value is a tensor, number, string, boolean or a table nesting them (keys
   strings or integers). Writes atomically (the old file survives any failure). Returns nothing. */
static int ck_save(lua_State *L) {
  const char *path = lt_check_path(L, 1, "save");
  if (lua_isnone(L, 2)) lt_argerror(L, 2, "usage", "the value to save");
  lua_settop(L, 2);
  save_state *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SAVE_MT);
  lua_newtable(L);                      /* 4: the tables on the current path, to find cycles */
  if (walk(L, s, 2, 4, 0)) {
    save_state_free(s);
    lua_pushstring(L, s->err);          /* s->err lives in the userdata, not in what was freed */
    return lua_error(L);
  }
  int rc = em_checkpoint_write(path, s->es, s->n);
  save_state_free(s);
  if (rc) return lt_raise(L);
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* load */

typedef struct load_box {
  em_ck_entry *es;
  size_t n;
  char *scratch;        /* unescaped string keys */
} load_box;

static void load_box_free(load_box *b) {
  em_checkpoint_free(b->es, b->n);
  free(b->scratch);
  b->es = NULL;
  b->n = 0;
  b->scratch = NULL;
}

static int load_box_gc(lua_State *L) {
  load_box_free(luaL_checkudata(L, 1, LOAD_MT));
  return 0;
}

/* frees everything, then raises "load: 'PATH' is corrupt (entry 'NAME' WHY)" */
static int load_corrupt(lua_State *L, load_box *b, const char *path, const em_ck_entry *e, const char *why) {
  char msg[1024];
  snprintf(msg, sizeof msg, "load: '%s' is corrupt (entry '%.300s' %s)", path, e->name, why);
  load_box_free(b);
  lua_pushstring(L, msg);
  return lua_error(L);
}

/* pushes the key of the component at *pos of e's name and moves *pos past it; -1 on a malformed name */
static int push_component(lua_State *L, load_box *b, const em_ck_entry *e, size_t *pos) {
  const char *s = e->name;
  size_t n = e->name_len, p = *pos;
  if (s[p] == '[') {
    int neg = ++p < n && s[p] == '-';
    p += (size_t)neg;
    lua_Unsigned v = 0, limit = (lua_Unsigned)LUA_MAXINTEGER + (lua_Unsigned)neg;
    size_t start = p;
    for (; p < n && s[p] >= '0' && s[p] <= '9'; p++) {
      lua_Unsigned d = (lua_Unsigned)(s[p] - '0');
      if (v > (limit - d) / 10) return -1;
      v = v * 10 + d;
    }
    if (p == start || p >= n || s[p] != ']') return -1;
    lua_pushinteger(L, neg ? (lua_Integer)(0u - v) : (lua_Integer)v);
    *pos = p + 1;
    return 0;
  }
  if (s[p] == '.') p++;
  else if (p != 0) return -1;
  size_t out = 0;
  while (p < n && s[p] != '.' && s[p] != '[') {
    if (s[p] == '\\') {
      if (p + 1 >= n || (s[p + 1] != '\\' && s[p + 1] != '.' && s[p + 1] != '[')) return -1;
      p++;
    }
    b->scratch[out++] = s[p++];
  }
  lua_pushlstring(L, b->scratch, out);
  *pos = p;
  return 0;
}

/* pushes the value of entry e; tensors are copied into new tensors and the entry's buffer freed at once,
   so a load holds about one copy of the model, not two */
static void push_value(lua_State *L, load_box *b, em_ck_entry *e) {
  switch (e->kind) {
  case EM_CK_TENSOR: {
    em_tensor *t = em_tensor_new(e->ndim, e->shape);
    if (!t) {
      load_box_free(b);
      lt_raise(L);
    }
    memcpy(em_data(t), e->data, (size_t)em_numel(t) * sizeof(float));
    free(e->data);
    e->data = NULL;
    lt_push(L, t);
    break;
  }
  case EM_CK_NUMBER: lua_pushnumber(L, (lua_Number)e->number); break;
  case EM_CK_INTEGER: lua_pushinteger(L, (lua_Integer)e->integer); break;
  case EM_CK_STRING: lua_pushlstring(L, e->str, e->len); break;
  case EM_CK_BOOLEAN: lua_pushboolean(L, e->boolean); break;
  default: lua_newtable(L); break;   /* EM_CK_TABLE */
  }
}

/* puts entry e into the table at root, creating the tables on its key path */
static void place_entry(lua_State *L, load_box *b, const char *path, em_ck_entry *e, int root) {
  if (e->name_len == 0) load_corrupt(L, b, path, e, "has an empty name beside other entries");
  size_t pos = 0;
  lua_pushvalue(L, root);                               /* cur */
  for (;;) {
    if (push_component(L, b, e, &pos))                  /* cur key */
      load_corrupt(L, b, path, e, "has a malformed name");
    lua_pushvalue(L, -1);
    int t = lua_rawget(L, -3);                          /* cur key old */
    if (pos == e->name_len) {
      if (t != LUA_TNIL) load_corrupt(L, b, path, e, "repeats an earlier entry");
      lua_pop(L, 1);
      push_value(L, b, e);                              /* cur key value */
      lua_rawset(L, -3);
      lua_pop(L, 1);
      return;
    }
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
      lua_newtable(L);                                  /* cur key new */
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, -5);
    } else if (t != LUA_TTABLE) {
      load_corrupt(L, b, path, e, "goes inside an earlier entry that is not a table");
    }
    lua_replace(L, -3);                                 /* sub key */
    lua_pop(L, 1);                                      /* sub */
  }
}

/* ember.load(path) -> the value given to ember.save: the same nested tables, tensors as new contiguous
   tensors (no autograd history), integers as integers. Raises on a missing, truncated or corrupt file.
   A safetensors or npz file (told apart by its first bytes) gives its table name -> tensor (weights.c). */
static int ck_load(lua_State *L) {
  const char *path = lt_check_path(L, 1, "load");
  lua_settop(L, 1);
  if (lt_load_weights(L, path) > 0) return 1;
  load_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, LOAD_MT);
  if (em_checkpoint_read(path, &b->es, &b->n)) return lt_raise(L);
  size_t longest = 0;
  for (size_t i = 0; i < b->n; i++)
    if (b->es[i].name_len > longest) longest = b->es[i].name_len;
  b->scratch = malloc(longest + 1);
  if (!b->scratch) {
    load_box_free(b);
    return lt_error(L, "memory", "load: out of memory");
  }
  if (b->n == 1 && b->es[0].name_len == 0) {
    push_value(L, b, &b->es[0]);                        /* ember.save(path, tensor), or of {} */
  } else {
    lua_newtable(L);
    int root = lua_gettop(L);
    luaL_checkstack(L, 8, "load");
    for (size_t i = 0; i < b->n; i++) place_entry(L, b, path, &b->es[i], root);
  }
  load_box_free(b);
  return 1;
}

void ember_open_checkpoint(lua_State *L) {
  static const luaL_Reg fns[] = {{"save", ck_save}, {"load", ck_load}, {NULL, NULL}};
  lt_gc_metatable(L, SAVE_MT, save_state_gc);
  lt_gc_metatable(L, LOAD_MT, load_box_gc);
  ember_register(L, fns);
}
