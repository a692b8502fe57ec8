/* main.c - the `ember` executable: embeds Lua 5.4 and the ember module, runs scripts (`ember x.lua`),
   strings (`-e`), the subcommands (run, plot, runs, sweep, help) and, with no arguments, the REPL.
   Exit status: 0 ok, 1 script error, 2 bad usage, 130 interrupted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "bind.h"
#include "blas.h"
#include "repl.h"
#include "version.h"

int luaopen_ember(lua_State *L);

/* message handler, as lua.c's: a string gets a traceback; an ember error (lua/ember/error.lua) keeps
   its kind for the exit status and gets its traceback in a field, except the kinds whose message says
   all there is to say (bad usage, an interrupt, a diverged training) */
static int msghandler(lua_State *L) {
  if (lt_is_error(L, 1)) {
    int status = lt_error_status(L, 1);
    lua_getfield(L, 1, "kind");
    int quiet = status != 1 || (lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "diverged") == 0);
    lua_pop(L, 1);
    if (!quiet) {
      luaL_traceback(L, L, NULL, 1);
      lua_setfield(L, 1, "traceback");
    }
    lua_settop(L, 1);
    return 1;
  }
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int ember_docall(lua_State *L, int nargs, int nres) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int rc = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);
  return rc;
}

static int error_text(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* prints the error on top ("ember: " and its text, then its traceback) and pops it; returns the exit
   status: 0 ok, 2 bad usage, 130 interrupted, 1 any other error */
static int report(lua_State *L, int rc) {
  if (rc == LUA_OK) return 0;
  /* the chunk has ended: a debug hook it left set must not run in what follows (a hook that raises
     made the unprotected __tostring below abort the process: "PANIC: unprotected error") */
  lua_sethook(L, NULL, 0, 0);
  int status = lt_error_status(L, -1);
  /* an ember error's text comes from its __tostring, Lua code: made under protection all the same */
  lua_pushcfunction(L, error_text);
  lua_pushvalue(L, -2);
  const char *msg = lua_pcall(L, 1, 1, 0) == LUA_OK ? lua_tostring(L, -1) : NULL;
  fprintf(stderr, "ember: %s\n", msg ? msg : "(an error whose text could not be made)");
  lua_pop(L, 1);
  if (lt_is_error(L, -1)) {
    if (lua_getfield(L, -1, "traceback") == LUA_TSTRING) fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  fflush(stderr);
  return status;
}

/* the global `arg` table as lua.c builds it: script at 0, its arguments from 1 */
static void create_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, const char *path, char **argv, int argc, int script) {
  create_arg(L, argv, argc, script);
  int rc = luaL_loadfile(L, strcmp(path, "-") == 0 ? NULL : path);
  if (rc != LUA_OK) return report(L, rc);
  int n = argc - script - 1;
  for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  return report(L, ember_docall(L, n, 0));
}

/* ember COMMAND args...: the command's Lua module does the work and returns the exit status */
static int run_command(lua_State *L, const char *cmd, char **argv, int argc, int first) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "ember.cli");
  int rc = ember_docall(L, 1, 1);
  if (rc != LUA_OK) return report(L, rc);
  lua_getfield(L, -1, "main");
  lua_pushstring(L, cmd);
  lua_createtable(L, argc - first, 0);
  for (int i = first; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - first + 1);
  }
  rc = ember_docall(L, 2, 1);
  if (rc != LUA_OK) return report(L, rc);
  int status = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return status;
}

/* is word one of the subcommands of lua/ember/cli (the table `commands` there)? */
static int is_command(lua_State *L, const char *word) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "ember.cli");
  int known = 0;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1) && lua_getfield(L, -1, "commands") == LUA_TTABLE) {
    lua_getfield(L, -1, word);
    known = !lua_isnil(L, -1);
  }
  lua_settop(L, top);
  return known;
}

/* Runs from a source tree (build/ember beside lua/ember/) use the Lua files there, so developers
   edit modules without rebuilding; an installed ember uses its embedded copies. */
static void find_source_tree(const char *argv0) {
  if (getenv("EMBER_PATH")) return;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 64);
  if (n <= 0) { (void)argv0; return; }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  *slash = '\0';
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/../lua/ember/error.lua", exe);
  if (access(probe, R_OK) == 0) {
    snprintf(probe, sizeof probe, "%s/../lua", exe);
    setenv("EMBER_PATH", probe, 0);
  }
}

/* --threads T and --threads=T: every pool's thread count, through EMBER_NUM_THREADS (read when
   ember's library loads, before OpenBLAS starts its threads); returns 0, or -1 on a bad count */
static int set_threads(const char *text) {
  int t = em_parse_threads(text);
  if (t < 0) {
    fprintf(stderr, "ember: --threads needs an integer from 1 to %d (got '%s')\n", EM_MAX_THREADS, text);
    return -1;
  }
  char buf[16];
  snprintf(buf, sizeof buf, "%d", t);
  setenv("EMBER_NUM_THREADS", buf, 1);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  find_source_tree(argv[0]);
  /* global options come first */
  while (i < argc) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      if (set_threads(argv[i + 1])) return 2;
      i += 2;
    } else if (!strncmp(argv[i], "--threads=", 10)) {
      if (set_threads(argv[i] + 10)) return 2;
      i++;
    } else break;
  }
  /* a bad EMBER_NUM_THREADS is bad usage, as a bad --threads is (luaopen_ember would raise it) */
  if (em_threads_env() < 0) {
    fprintf(stderr, "ember: EMBER_NUM_THREADS must be an integer from 1 to %d (got '%s'); fix it, unset it or "
            "give --threads T\n", EM_MAX_THREADS, getenv("EMBER_NUM_THREADS"));
    return 2;
  }
  lua_State *L = luaL_newstate();
  if (!L) { fprintf(stderr, "ember: cannot create a Lua state (out of memory)\n"); return 1; }
  luaL_openlibs(L);
  luaL_requiref(L, "ember", luaopen_ember, 0);   /* package.loaded.ember, and the global for -e and the REPL */
  lua_setglobal(L, "ember");
  /* Lua's default incremental collector, not the generational one: a tensor alive across a minor
     collection (mid-step) is promoted and then freed only by a major collection, which Lua starts on
     growth of the memory it sees, and it does not see tensor data. Generational mode let a LeNet
     epoch grow by 70 MB per 200 steps; incremental mode, driven by the tensor bytes reported in
     lt_gc_account, keeps it flat. */
  ember_install_signals(L);
  int status;
  if (i < argc && !strcmp(argv[i], "--version")) {
    printf("ember %s (Lua 5.4)\nBLAS: %s\nthreads: %d\n", EMBER_VERSION, em_blas_info(), em_get_num_threads());
    status = 0;
  } else if (i < argc && !strcmp(argv[i], "-e") && i + 1 < argc) {
    create_arg(L, argv, argc, i + 1);
    int rc = luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)");
    status = rc == LUA_OK ? report(L, ember_docall(L, 0, 0)) : report(L, rc);
  } else if (i < argc && (is_command(L, argv[i]) || (argv[i][0] == '-' && argv[i][1]))) {
    /* the subcommands, and -h, --help, a lone -e and unknown options, which the cli answers */
    status = run_command(L, argv[i], argv, argc, i + 1);
  } else if (i < argc) {
    if (strcmp(argv[i], "-") != 0 && access(argv[i], R_OK) != 0) {
      fprintf(stderr, "ember: cannot open script '%s'\n", argv[i]);
      status = 1;
    } else status = run_script(L, argv[i], argv, argc, i);
  } else if (isatty(0)) {
    status = ember_repl(L);
  } else {
    status = run_script(L, "-", argv, argc, 0);   /* `echo 'print(1)' | ember` */
  }
  lua_close(L);   /* runs every __gc, so tensors and open files are released and flushed */
  return status;
}
