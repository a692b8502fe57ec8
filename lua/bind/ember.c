/* ember.c (binding) - luaopen_ember: assembles the per-concern binding files into the `ember` table,
   installs the embedded Lua modules and loads submodules (ember.nn, ember.optim, ...) on first use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bind.h"
#include "blas.h"

#define EMBER_VERSION "0.1.0"

struct em_embedded { const char *name; const char *src; size_t len; };
extern const struct em_embedded em_embedded[];

/* binding files that later issues add; weak so the library links while they are being written */
#define OPTIONAL_OPENERS(X) X(nn) X(loss) X(optim) X(data) X(checkpoint) X(sys)
#define DECLARE(name) void ember_open_##name(lua_State *L) __attribute__((weak));
OPTIONAL_OPENERS(DECLARE)

/* package.preload loader of an embedded module. With EMBER_PATH set, a file
   $EMBER_PATH/ember/NAME.lua wins, so developers edit modules without rebuilding. */
static int load_embedded(lua_State *L) {
  const struct em_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  const char *dir = getenv("EMBER_PATH");
  if (dir && *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ember/%s.lua", dir, m->name + 6);
    FILE *f = fopen(path, "r");
    if (f) {
      fclose(f);
      if (luaL_loadfile(L, path) != LUA_OK) return lua_error(L);
      lua_pushstring(L, m->name);
      lua_pushstring(L, path);
      lua_call(L, 2, 1);
      return 1;
    }
  }
  char chunk[128];
  snprintf(chunk, sizeof chunk, "=[ember]/%s.lua", m->name + 6);
  if (luaL_loadbuffer(L, m->src, m->len, chunk) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

static void install_preload(lua_State *L) {
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
  lua_getfield(L, -1, "preload");
  for (const struct em_embedded *m = em_embedded; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 2);
}

/* ember.nn, ember.optim, ...: required on first access, then cached in the ember table */
static int ember_index(lua_State *L) {
  const char *k = lua_tostring(L, 2);
  if (!k) return 0;
  char name[128];
  snprintf(name, sizeof name, "ember.%s", k);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_getfield(L, -1, name);
  int known = !lua_isnil(L, -1);
  lua_pop(L, 3);
  if (!known) return 0;
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

static int l_version(lua_State *L) { lua_pushstring(L, EMBER_VERSION); return 1; }

int luaopen_ember(lua_State *L) {
  em_blas_init();
  install_preload(L);
  lua_newtable(L);
  ember_open_tensor(L);
  ember_open_ops(L);
  ember_open_autograd(L);
#define CALL(name) if (ember_open_##name) ember_open_##name(L);
  OPTIONAL_OPENERS(CALL)
  lua_pushstring(L, EMBER_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushcfunction(L, l_version);
  lua_setfield(L, -2, "get_version");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, ember_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}
