/* error.c (binding) - raising ember's one error type (lua/ember/error.lua) from C: a table with kind,
   fn (the public name), message and where (the caller's "file:line: " outside ember's own modules),
   whose metatable error.lua keeps in the registry. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "bind.h"
#include "error.h"

static const char *const kind_names[] = {
  [EM_EVALUE] = "value", [EM_ESHAPE] = "shape", [EM_ETYPE] = "type", [EM_EIO] = "io",
  [EM_EFORMAT] = "format", [EM_ESTATE] = "state", [EM_ENOMEM] = "memory"};

/* source names of ember's own Lua code: the embedded modules, or the files below $EMBER_PATH/ember/ */
static int is_own_source(const char *src) {
  if (strncmp(src, "=[ember]", 8) == 0) return 1;
  const char *root = getenv("EMBER_PATH");
  if (!root || !*root || src[0] != '@') return 0;
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  return strncmp(src + 1, root, n) == 0 && strncmp(src + 1 + n, "/ember/", 7) == 0;
}

void lt_push_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 0; lua_getstack(L, level, &ar); level++) {   /* 0: a hook interrupted it */
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 || is_own_source(ar.source)) continue;
    lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    return;
  }
  lua_pushliteral(L, "");
}

/* "conv2d" -> "ember.conv2d"; names that are not at ember.<name> are spelled out */
static void push_public_name(lua_State *L, const char *name, size_t len) {
  static const struct { const char *core, *public; } names[] = {
    {"backward", "Tensor:backward"}, {"csv", "ember.data.csv"}, {"idx", "ember.data.idx"},
    {"item", "Tensor:item"}, {"index", "Tensor:index"}, {"grad", "Tensor.grad"},
    {"requires_grad", "Tensor:requires_grad"},
    /* the fused loss kernels, which users reach as ember.loss.NAME */
    {"mse", "ember.loss.mse"}, {"rmse", "ember.loss.rmse"}, {"mae", "ember.loss.mae"},
    {"huber", "ember.loss.huber"}, {"smooth_l1", "ember.loss.smooth_l1"}, {"bce", "ember.loss.bce"},
    {"bce_with_logits", "ember.loss.bce_with_logits"}, {"kl_div", "ember.loss.kl_div"},
    {"cross_entropy", "ember.loss.cross_entropy"}, {"nll", "ember.loss.nll"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].core) == len && memcmp(names[i].core, name, len) == 0) {
      lua_pushstring(L, names[i].public);
      return;
    }
  if (memchr(name, '.', len) || memchr(name, ':', len)) lua_pushlstring(L, name, len);
  else {
    lua_pushliteral(L, "ember.");
    lua_pushlstring(L, name, len);
    lua_concat(L, 2);
  }
}

/* builds the error from "name: message" (a core or binding message) and raises it */
static int raise_text(lua_State *L, const char *kind, const char *fn, const char *msg) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (fn) {
    lua_pushstring(L, fn);
    lua_setfield(L, -2, "fn");
  } else {
    /* a leading "name: " is the function's name; a name is letters, digits, _ . and : */
    size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:");
    while (n > 0 && msg[n - 1] == ':') n--;
    if (n > 0 && msg[n] == ':' && msg[n + 1] == ' ') {
      push_public_name(L, msg, n);
      lua_setfield(L, -2, "fn");
      msg += n + 2;
    }
  }
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  lt_push_where(L);
  lua_setfield(L, -2, "where");
  if (lua_getfield(L, LUA_REGISTRYINDEX, "ember.Error") == LUA_TTABLE) lua_setmetatable(L, -2);
  else {
    /* error.lua not loaded (it always is after luaopen_ember): fall back to the plain text */
    lua_pop(L, 2);
    lt_push_where(L);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

int lt_error(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return raise_text(L, kind, NULL, msg);
}

const char *lt_got(lua_State *L, int arg) {
  if (lua_type(L, arg) != LUA_TNUMBER) return lua_pushstring(L, luaL_typename(L, arg));
  lua_Number v = lua_tonumber(L, arg);
  if (v != v) return lua_pushliteral(L, "nan");   /* printf gives -nan on x86 */
  return luaL_tolstring(L, arg, NULL);
}

/* the key, in the table on top, whose value is the function at fn: pushes prefix .. key and returns 1,
   or pushes nothing and returns 0; pops the table either way. Of aliases a public name wins over an
   _internal one, then the longest (matmul over mm), then the first in byte order, so the message does
   not depend on the table's order. */
static int push_key_of(lua_State *L, int fn, const char *prefix) {
  const char *best = NULL;
  size_t best_len = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
      size_t n;
      const char *k = lua_tolstring(L, -2, &n);   /* the table keeps the string alive */
      int better = !best || (best[0] == '_') != (k[0] == '_') ? !best || best[0] == '_'
                   : n != best_len ? n > best_len : strcmp(k, best) < 0;
      if (better) best = k, best_len = n;
    }
    lua_pop(L, 1);
  }
  if (best) lua_pushfstring(L, "%s%s", prefix, best);
  lua_remove(L, best ? -2 : -1);
  return best != NULL;
}

/* the best name for fn among ember's sub-tables (ember._process.wait): pushes it and returns 1, or
   pushes nothing and returns 0. The table at ember is on top and stays. */
static int push_sub_key_of(lua_State *L, int fn) {
  int ember = lua_gettop(L), found = 0;
  lua_pushnil(L);
  while (lua_next(L, ember)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1) && !found) {
      const char *sub = lua_tostring(L, -2);
      lua_pushfstring(L, "ember.%s.", sub);
      lua_insert(L, -2);   /* prefix under the sub-table, which push_key_of pops */
      if (push_key_of(L, fn, lua_tostring(L, -2))) {
        lua_remove(L, -2);   /* the prefix */
        lua_insert(L, ember + 1);   /* the name under the key */
        found = 1;
        continue;
      }
    }
    lua_settop(L, ember + found + 1);   /* the key */
  }
  return found;
}

/* pushes the public name of the running C function: "ember.KEY" for the key it has in the ember table
   (ember.narrow and the method x:narrow are one function), "Tensor:KEY" for a method only,
   "ember.SUB.KEY" for one of a sub-table (ember._process.wait), "Tensor:index" and "Tensor:__NAME" for
   a metamethod, else the field or method name it was called by, else "ember" (a local name such as f
   in `local f = ember.narrow` says nothing) */
static void push_running_name(lua_State *L, const lua_Debug *ar) {
  lua_Debug self;
  if (ar->name && ar->namewhat && strcmp(ar->namewhat, "metamethod") == 0) {
    if (strcmp(ar->name, "index") == 0 || strcmp(ar->name, "newindex") == 0) lua_pushliteral(L, "Tensor:index");
    else lua_pushfstring(L, "Tensor:__%s", ar->name);
    return;
  }
  if (lua_getstack(L, 0, &self) && lua_getinfo(L, "f", &self)) {
    int fn = lua_gettop(L), found = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    int loaded = lua_gettop(L);
    if (lua_getfield(L, loaded, "ember") == LUA_TTABLE) {
      lua_pushvalue(L, -1);
      found = push_key_of(L, fn, "ember.");   /* pops the copy */
      if (!found) {
        lt_push_methods(L);
        if (lua_istable(L, -1)) found = push_key_of(L, fn, "Tensor:");
        else lua_pop(L, 1);
      }
      if (!found) found = push_sub_key_of(L, fn);
    }
    if (found) {
      lua_replace(L, fn);
      lua_settop(L, fn);
      return;
    }
    lua_settop(L, fn - 1);
  }
  if (ar->name && ar->namewhat && (strcmp(ar->namewhat, "method") == 0 || strcmp(ar->namewhat, "field") == 0))
    push_public_name(L, ar->name, strlen(ar->name));
  else lua_pushliteral(L, "ember");
}

static int argerror(lua_State *L, int arg, const char *kind, const char *what, const char *got) {
  lua_Debug ar;
  memset(&ar, 0, sizeof ar);
  int self = lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.namewhat &&
             strcmp(ar.namewhat, "method") == 0;
  if (self && arg == 1) lua_pushfstring(L, "self must be %s (got %s)", what, got);
  else lua_pushfstring(L, "argument %d must be %s (got %s)", arg - self, what, got);
  const char *msg = lua_tostring(L, -1);
  push_running_name(L, &ar);
  return raise_text(L, kind, lua_tostring(L, -1), msg);
}

int lt_argerror(lua_State *L, int arg, const char *kind, const char *what) {
  return argerror(L, arg, kind, what, lt_got(L, arg));   /* a number's text: 1.5 is no integer */
}

int lt_closed_error(lua_State *L, int arg) {
  return argerror(L, arg, "state", "a tensor", "a closed tensor");
}

lua_Number lt_checknumber(lua_State *L, int arg) {
  int ok;
  lua_Number v = lua_tonumberx(L, arg, &ok);
  if (!ok) lt_argerror(L, arg, "type", "a number");
  return v;
}

lua_Integer lt_checkinteger(lua_State *L, int arg) {
  int ok;
  lua_Integer v = lua_tointegerx(L, arg, &ok);
  if (!ok) lt_argerror(L, arg, lua_isnumber(L, arg) ? "value" : "type", "an integer");
  return v;
}

lua_Number lt_optnumber(lua_State *L, int arg, lua_Number def) {
  return lua_isnoneornil(L, arg) ? def : lt_checknumber(L, arg);
}

lua_Integer lt_optinteger(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : lt_checkinteger(L, arg);
}

void lt_checktype(lua_State *L, int arg, int type) {
  if (lua_type(L, arg) != type)
    lt_argerror(L, arg, "type", type == LUA_TTABLE ? "a table" : type == LUA_TFUNCTION ? "a function"
                               : lua_typename(L, type));
}

int lt_optboolean(lua_State *L, int arg, int def) {
  if (lua_isnoneornil(L, arg)) return def;
  if (!lua_isboolean(L, arg)) lt_argerror(L, arg, "type", "true or false");
  return lua_toboolean(L, arg);
}

int lt_checkoption(lua_State *L, int arg, const char *def, const char *const list[], const char *what) {
  const char *s = lua_isnoneornil(L, arg) ? def : lua_type(L, arg) == LUA_TSTRING ? lua_tostring(L, arg) : NULL;
  for (int i = 0; s && list[i]; i++)
    if (strcmp(list[i], s) == 0) return i;
  return lt_argerror(L, arg, "value", what);
}

int lt_raise(lua_State *L) {
  const char *m = em_error();
  int k = em_error_kind();
  const char *kind = k >= 0 && k < (int)(sizeof kind_names / sizeof kind_names[0]) && kind_names[k]
                     ? kind_names[k] : "value";
  lua_pushstring(L, *m ? m : "unknown error");
  return raise_text(L, kind, NULL, lua_tostring(L, -1));
}

int lt_is_error(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  lua_getfield(L, LUA_REGISTRYINDEX, "ember.Error");
  int same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

/* the exit status error.lua's KINDS table gives the error's kind (the metatable's `statuses`) */
int lt_error_status(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (!lt_is_error(L, idx)) return 1;
  lua_getmetatable(L, idx);
  lua_getfield(L, -1, "statuses");
  lua_getfield(L, idx, "kind");
  int status = lua_istable(L, -2) && lua_isstring(L, -1) ? (lua_gettable(L, -2), (int)lua_tointeger(L, -1)) : 0;
  lua_pop(L, 3);
  return status > 0 ? status : 1;
}
