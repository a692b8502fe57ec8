/* autograd.c (binding) - backward, detach, no_grad and grad mode from Lua. */
#include "bind.h"
#include "autograd.h"

/* loss:backward([grad] [, {keep_graph = true}]) */
static int m_backward(lua_State *L) {
  em_tensor *t = lt_check(L, 1);
  em_tensor *g = lt_test(L, 2);
  int opts = lua_istable(L, 2) ? 2 : 3, keep = 0;
  if (!g && !lua_isnoneornil(L, 2) && !lua_istable(L, 2)) return lt_argerror(L, 2, "type", "a tensor or an options table");
  if (lua_istable(L, opts)) {
    lua_getfield(L, opts, "keep_graph");
    keep = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (em_backward(t, g, keep)) return lt_raise(L);
  lt_gc_account(L);
  return 0;
}

static int m_detach(lua_State *L) { lt_push(L, em_detach(lt_check(L, 1))); return 1; }

/* ember.no_grad(fn, ...) runs fn with grad mode off and restores it even when fn raises */
static int l_no_grad(lua_State *L) {
  lt_checktype(L, 1, LUA_TFUNCTION);
  int old = em_set_grad_enabled(0);
  int n = lua_gettop(L) - 1;
  int rc = lua_pcall(L, n, LUA_MULTRET, 0);
  em_set_grad_enabled(old);
  if (rc != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static int l_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, em_set_grad_enabled(lt_optboolean(L, 1, 0)));
  return 1;
}

static int l_is_grad_enabled(lua_State *L) { lua_pushboolean(L, em_grad_enabled()); return 1; }

static const luaL_Reg methods[] = {{"backward", m_backward}, {"detach", m_detach}, {NULL, NULL}};
static const luaL_Reg fns[] = {{"no_grad", l_no_grad}, {"set_grad_enabled", l_set_grad_enabled},
                               {"is_grad_enabled", l_is_grad_enabled}, {NULL, NULL}};

void ember_open_autograd(lua_State *L) {
  ember_tensor_methods(L, methods);
  ember_register(L, fns);
}
