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
