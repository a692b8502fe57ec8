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

int luaopen_ember(lua_State *L);
int ember_repl(lua_State *L) __attribute__((weak));

static const char usage[] =
  "usage: ember [--threads T] [SCRIPT.lua [args] | -e CODE | COMMAND ...]\n"
  "  ember                      interactive session (REPL)\n"
  "  ember SCRIPT.lua [args]    run a script (arg table as in lua)\n"
  "  ember -e 'CODE'            run a string\n"
  "  ember run SCRIPT [--set k=v]... [--name N] [--runs DIR] [--seed S] [--threads T] [--resume RUNDIR] [--quiet] [--live]\n"
  "  ember plot PATH... [--metric M] [--x epoch|step|time] [--out FILE] [--term png|svg|pdf|dumb] [--by P]\n"
  "  ember runs [DIR] [--tsv]    table of runs\n"
  "  ember sweep SCRIPT --grid k=v1,v2 [--jobs N] [--engine local|parallel|slurm]\n"
  "  ember --version | ember help [TOPIC]\n"
  "  --threads T (or EMBER_NUM_THREADS) sets the threads of every pool\n";

/* message handler: adds a traceback, as lua.c does */
static int msghandler(lua_State *L) {
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

static int report(lua_State *L, int rc) {
  if (rc == LUA_OK) return 0;
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "ember: %s\n", msg ? msg : "(error object)");
  fflush(stderr);
  int interrupted = msg && strstr(msg, "interrupted!") != NULL;
  lua_pop(L, 1);
  return interrupted ? 130 : 1;
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

static int is_command(const char *s) {
  static const char *cmds[] = {"run", "plot", "runs", "sweep", "help", NULL};
  for (int i = 0; cmds[i]; i++) if (!strcmp(s, cmds[i])) return 1;
  return 0;
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
  snprintf(probe, sizeof probe, "%s/../lua/ember/nn.lua", exe);
  if (access(probe, R_OK) == 0) {
    snprintf(probe, sizeof probe, "%s/../lua", exe);
    setenv("EMBER_PATH", probe, 0);
  }
}

int main(int argc, char **argv) {
  int i = 1;
  find_source_tree(argv[0]);
  /* global options come first */
  while (i < argc) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      int t = atoi(argv[i + 1]);
      if (t < 1) { fprintf(stderr, "ember: --threads needs a positive integer (got '%s')\n", argv[i + 1]); return 2; }
      char buf[16];
      snprintf(buf, sizeof buf, "%d", t);
      setenv("EMBER_NUM_THREADS", buf, 1);
      i += 2;
    } else if (!strncmp(argv[i], "--threads=", 10)) {
      setenv("EMBER_NUM_THREADS", argv[i] + 10, 1);
      i++;
    } else break;
  }
  if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) { fputs(usage, stdout); return 0; }
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
    printf("ember %s (Lua 5.4)\nBLAS: %s\nthreads: %d\n", "0.1.0", em_blas_info(), em_get_num_threads());
    status = 0;
  } else if (i < argc && !strcmp(argv[i], "-e")) {
    if (i + 1 >= argc) { fputs("ember: -e needs an argument\n", stderr); fputs(usage, stderr); status = 2; }
    else {
      create_arg(L, argv, argc, i + 1 < argc ? i + 1 : i);
      int rc = luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)");
      status = rc == LUA_OK ? report(L, ember_docall(L, 0, 0)) : report(L, rc);
    }
  } else if (i < argc && is_command(argv[i])) {
    status = run_command(L, argv[i], argv, argc, i + 1);
  } else if (i < argc && argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
    fprintf(stderr, "ember: unknown option '%s'\n", argv[i]);
    fputs(usage, stderr);
    status = 2;
  } else if (i < argc) {
    if (strcmp(argv[i], "-") != 0 && access(argv[i], R_OK) != 0) {
      fprintf(stderr, "ember: cannot open script '%s'\n", argv[i]);
      status = 1;
    } else status = run_script(L, argv[i], argv, argc, i);
  } else if (isatty(0) && ember_repl) {
    status = ember_repl(L);
  } else {
    status = run_script(L, "-", argv, argc, 0);   /* `echo 'print(1)' | ember` */
  }
  lua_close(L);   /* runs every __gc, so tensors and open files are released and flushed */
  return status;
}
