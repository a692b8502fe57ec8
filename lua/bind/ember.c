/* ember.c (binding) - luaopen_ember: assembles the per-concern binding files into the `ember` table,
   installs the embedded Lua modules and loads submodules (ember.nn, ember.optim, ...) on first use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bind.h"
#include "blas.h"
#include "embedded.h"
#include "version.h"

/* $EMBER_PATH, without trailing slashes, or NULL: developers run the Lua files of a source tree */
static const char *source_root(void) {
  const char *dir = getenv("EMBER_PATH");
  return dir && *dir ? dir : NULL;
}

/* package.preload loader of an embedded module. With EMBER_PATH set, the file $EMBER_PATH/<path>
   wins, so developers edit modules without rebuilding. */
static int load_embedded(lua_State *L) {
  const struct em_embedded *m = lua_touserdata(L, lua_upvalueindex(1));
  const char *dir = source_root();
  if (dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, m->path);
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
  char chunk[160];
  snprintf(chunk, sizeof chunk, "=[ember]/%s", m->path + strlen("ember/"));
  if (luaL_loadbuffer(L, m->src, m->len, chunk) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

/* the embedded modules as package.preload loaders; with EMBER_PATH, its ?.lua and ?/init.lua also go
   first on package.path, so a module file added to the source tree loads before the next build */
static void install_preload(lua_State *L) {
  lua_getglobal(L, "package");
  if (!lua_istable(L, -1)) { lua_pop(L, 1); return; }
  lua_getfield(L, -1, "preload");
  for (const struct em_embedded *m = em_embedded; m->name; m++) {
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  const char *dir = source_root();
  if (dir) {
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* ember.nn, ember.optim, ...: required on first access, then cached in the ember table */
static int ember_index(lua_State *L) {
  size_t len;
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
  if (!k || strlen(k) != len) return 0;                   /* ember["nn\0x"] is not ember.nn */
  char name[128];
  snprintf(name, sizeof name, "ember.%s", k);
  if (!ember_embedded_find(name)) return 0;
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
  /* a thread count the user got wrong is said, not silently replaced by the cores (main.c exits 2) */
  if (em_threads_env() < 0)
    return luaL_error(L, "ember: EMBER_NUM_THREADS must be an integer from 1 to %d (got '%s'); fix or unset it",
                      EM_MAX_THREADS, getenv("EMBER_NUM_THREADS"));
  em_blas_init();
  install_preload(L);
  /* the error type first: every error raised from here on is one (lua/bind/error.c) */
  lua_getglobal(L, "require");
  lua_pushstring(L, "ember.error");
  lua_call(L, 1, 0);
  lua_newtable(L);
  ember_open_tensor(L);
  ember_open_ops(L);
  ember_open_autograd(L);
  ember_open_nn(L);
  ember_open_loss(L);
  ember_open_optim(L);
  ember_open_data(L);
  ember_open_checkpoint(L);
  ember_open_weights(L);
  ember_open_sys(L);
  ember_open_process(L);
  ember_open_fs(L);
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
