/* sys.c (binding) - the little OS surface the Lua side needs: interrupt handling (Ctrl-C / SIGTERM),
   a monotonic clock, terminal queries, host and process ids. */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "bind.h"

static volatile sig_atomic_t interrupts;
static volatile sig_atomic_t graceful;   /* a runner finishes its step on the first signal */
static lua_State *main_state;

/* like lua.c's lstop: raise an error at the next Lua instruction */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  lt_error(L, "interrupted", "interrupted");
}

static void on_signal(int sig) {
  (void)sig;
  interrupts++;
  if (graceful && interrupts == 1) return;   /* the runner polls ember._interrupts() */
  if (main_state) lua_sethook(main_state, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void ember_install_signals(lua_State *L) {
  main_state = L;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static int l_interrupts(lua_State *L) { lua_pushinteger(L, interrupts); return 1; }
static int l_reset_interrupts(lua_State *L) { (void)L; interrupts = 0; return 0; }
static int l_graceful(lua_State *L) {
  lua_pushboolean(L, graceful);
  if (!lua_isnone(L, 1)) graceful = lua_toboolean(L, 1);
  return 1;
}

static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int l_isatty(lua_State *L) { lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1))); return 1; }

static int l_terminal_size(lua_State *L) {
  struct winsize w;
  int fd = (int)luaL_optinteger(L, 1, 1);
  if (ioctl(fd, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) {
    lua_pushinteger(L, w.ws_col);
    lua_pushinteger(L, w.ws_row);
    return 2;
  }
  lua_pushinteger(L, 80);
  lua_pushinteger(L, 24);
  return 2;
}

static int l_hostname(lua_State *L) {
  char h[256] = "";
  gethostname(h, sizeof h - 1);
  lua_pushstring(L, h);
  return 1;
}

static int l_getpid(lua_State *L) { lua_pushinteger(L, getpid()); return 1; }

static const luaL_Reg fns[] = {
  {"_interrupts", l_interrupts}, {"_reset_interrupts", l_reset_interrupts}, {"_graceful", l_graceful},
  {"clock", l_clock}, {"isatty", l_isatty}, {"terminal_size", l_terminal_size}, {"hostname", l_hostname},
  {"getpid", l_getpid}, {NULL, NULL}};

void ember_open_sys(lua_State *L) { ember_register(L, fns); }
