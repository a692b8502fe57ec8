/* sys.c (binding) - the little OS surface the Lua side needs: interrupt handling (Ctrl-C / SIGTERM),
   a monotonic clock, terminal queries, host and process ids. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "atomic.h"
#include "bind.h"

static volatile sig_atomic_t interrupts;
static volatile sig_atomic_t graceful;   /* a runner finishes its step on the first signal */
static volatile sig_atomic_t armed;      /* the stop hook is set and has not run yet */
static lua_State *main_state;

/* like lua.c's lstop: raise an error at the next Lua instruction */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  armed = 0;
  lua_sethook(L, NULL, 0, 0);
  lt_error(L, "interrupted", "interrupted");
}

/* The hook only runs when Lua runs: a signal that comes while it still waits (the process stuck in C
   code) ends the process with the signal's default action, as lua.c's second Ctrl-C does. */
static void on_signal(int sig) {
  interrupts++;
  if (graceful && interrupts == 1) return;   /* the runner polls ember._interrupts() */
  if (armed) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  armed = 1;
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
  /* a closed terminal stops a run as SIGTERM does, unless hangups are ignored (nohup) */
  struct sigaction hup;
  if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN) sigaction(SIGHUP, &sa, NULL);
}

/* ember._xpcall_unhooked(f, handler, ...) -> xpcall(f, handler, ...), after which a debug hook that f
   left set is removed before any more Lua runs: Lua runs a line hook before the line, so a caller's
   own debug.sethook() would come too late, and a hook that raises failed `ember run`'s code that closes
   the script's runs (they stayed at status running). ember's interrupt hook stays armed. */
static int l_xpcall_unhooked(lua_State *L) {
  lt_checktype(L, 1, LUA_TFUNCTION);
  lt_checktype(L, 2, LUA_TFUNCTION);
  int n = lua_gettop(L);
  lua_pushvalue(L, 2);   /* the handler, at n + 1 */
  lua_pushvalue(L, 1);
  for (int i = 3; i <= n; i++) lua_pushvalue(L, i);
  int rc = lua_pcall(L, n - 2, LUA_MULTRET, n + 1);
  if (lua_gethook(L) != stop_hook) lua_sethook(L, NULL, 0, 0);
  lua_pushboolean(L, rc == LUA_OK);
  lua_replace(L, n + 1);   /* over the handler: ok, then the results or the error */
  return lua_gettop(L) - n;
}

static int l_interrupts(lua_State *L) { lua_pushinteger(L, interrupts); return 1; }
static int l_reset_interrupts(lua_State *L) { (void)L; interrupts = 0; armed = 0; return 0; }
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

/* a file descriptor argument, 1 (stdout) by default; checked before it is narrowed to an int */
static int opt_fd(lua_State *L, int arg) {
  lua_Integer fd = lt_optinteger(L, arg, 1);
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, arg, "not a file descriptor");
  return (int)fd;
}

static int l_isatty(lua_State *L) { lua_pushboolean(L, isatty(opt_fd(L, 1))); return 1; }

static int l_terminal_size(lua_State *L) {
  struct winsize w;
  int fd = opt_fd(L, 1);
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

const char *lt_check_string(lua_State *L, int idx, const char *fn, const char *what) {
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) lt_error(L, "type", "%s: %s must be a string (got %s)", fn, what, luaL_typename(L, idx));
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  if (strlen(s) != len)
    lt_error(L, "value", "%s: %s cannot contain a NUL byte (got '%s\\0...', %d bytes)", fn, what, s, (int)len);
  return s;
}

const char *lt_check_path(lua_State *L, int idx, const char *fn) { return lt_check_string(L, idx, fn, "a file name"); }

/* ember._write_atomic(path, text [, sync = false]) -> true, or nil and the reason ("Permission denied",
   as io.open's): text replaces path
   through a temporary file that is created with O_EXCL | O_NOFOLLOW (Lua's io.open cannot), fsync'ed
   when sync, and renamed over path (core/atomic.h). */
static int l_write_atomic(lua_State *L) {
  const char *path = lt_check_path(L, 1, "_write_atomic");
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  int sync = lua_toboolean(L, 3);
  em_atomic a;
  int rc = em_atomic_open(&a, path, "write_atomic");
  if (rc == 0) {
    if (fwrite(text, 1, len, a.f) != len) {
      int err = errno ? errno : EIO;
      em_atomic_abort(&a);
      a.err = err;
      rc = -1;
    } else rc = em_atomic_commit(&a, sync);
  }
  if (rc == 0) { lua_pushboolean(L, 1); return 1; }
  lua_pushnil(L);
  lua_pushstring(L, strerror(a.err));
  return 2;
}

static const luaL_Reg fns[] = {
  {"_interrupts", l_interrupts}, {"_reset_interrupts", l_reset_interrupts}, {"_graceful", l_graceful},
  {"clock", l_clock}, {"isatty", l_isatty}, {"terminal_size", l_terminal_size}, {"hostname", l_hostname},
  {"getpid", l_getpid}, {"_write_atomic", l_write_atomic}, {"_xpcall_unhooked", l_xpcall_unhooked},
  {NULL, NULL}};

void ember_open_sys(lua_State *L) { ember_register(L, fns); }
