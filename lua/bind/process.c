/* process.c (binding) - child processes without a shell, for `ember sweep` (ember._process):
   - spawn(argv [, opts]) starts argv with posix_spawnp: no shell ever parses an argument; the child is
     the leader of its own process group (so a terminal's Ctrl-C or a signal to the sweep's group
     reaches the sweep alone, which decides what its runs get), stdin is /dev/null, stdout and stderr
     go to files, a pipe, or stay the sweep's;
   - signal(pid, name) signals a child's process group;
   - watch(true) replaces the SIGINT, SIGTERM and SIGCHLD handlers by ones that write each signal, with
     its sender, into a pipe (the self-pipe trick), and wait(pids, timeout [, fd]) reaps the children
     that ended, reads those signals and a pipe's output in one poll: a pool reacts to Ctrl-C at once
     without a ticker process, and a signal never interrupts the Lua code between two waits;
   - run(argv) runs a short command and returns its output (sbatch, squeue, parallel --version).
   The handlers are process-wide (whichever thread the kernel picks writes the pipe), which is why this
   is a self-pipe and not a blocked mask with signalfd: OpenBLAS's threads would take the signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include "bind.h"

extern char **environ;

#define FN "ember._process."

static const struct { const char *name; int sig; } signal_names[] = {
  {"INT", SIGINT}, {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
  {"CHLD", SIGCHLD}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

static int signal_number(lua_State *L, int idx, const char *fn) {
  const char *name = lt_check_string(L, idx, fn, "the signal name");
  for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
    if (strcmp(signal_names[i].name, name) == 0) return signal_names[i].sig;
  return lt_error(L, "value", "%s: unknown signal '%s' (INT, TERM, KILL, HUP, ...)", fn, name);
}

static const char *signal_name(int sig) {
  for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
    if (signal_names[i].sig == sig) return signal_names[i].name;
  return "?";
}

/* a pid argument: a process we may signal, never 0 or -1 (which would mean a whole group or every process) */
static pid_t check_pid(lua_State *L, int idx, const char *fn) {
  lua_Integer pid = lt_checkinteger(L, idx);
  if (pid <= 1 || pid > INT_MAX) lt_error(L, "value", "%s: not a child's process id: %d", fn, (int)pid);
  return (pid_t)pid;
}

/* the argument list at idx as a NULL-terminated array in a userdata pushed on the stack (freed by the
   collector, so an error midway leaks nothing); the strings stay owned by the table */
static char **check_argv(lua_State *L, int idx, const char *fn) {
  if (!lua_istable(L, idx)) lt_error(L, "type", "%s: expected an argument list (got %s)", fn, luaL_typename(L, idx));
  lua_Integer n = luaL_len(L, idx);
  if (n < 1) lt_error(L, "value", "%s: the argument list is empty", fn);
  if (n > 1 << 20) lt_error(L, "value", "%s: %d arguments is too many", fn, (int)n);
  char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, idx, i) != LUA_TSTRING)
      lt_error(L, "type", "%s: argument %d is a %s, not a string", fn, (int)i, luaL_typename(L, -1));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (strlen(s) != len) lt_error(L, "value", "%s: argument %d holds a NUL byte", fn, (int)i);
    argv[i - 1] = (char *)s;   /* anchored by the table */
    lua_pop(L, 1);
  }
  argv[n] = NULL;
  return argv;
}

static const char *opt_string(lua_State *L, int opts, const char *key) {
  if (lua_isnoneornil(L, opts)) return NULL;
  lua_getfield(L, opts, key);
  const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;   /* anchored by the options table */
  lua_pop(L, 1);
  return s;
}

static int opt_flag(lua_State *L, int opts, const char *key, int dflt) {
  if (lua_isnoneornil(L, opts)) return dflt;
  lua_getfield(L, opts, key);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* starts argv; options at index opts (a table or nil): stdin (a path; default /dev/null), stdout and
   stderr (paths, opened for appending), pipe (stdout into a pipe whose read end *out_fd gets), merge
   (stderr where stdout goes), group (own process group; default dflt_group). Returns the pid, or 0
   with a message pushed. */
static pid_t start(lua_State *L, char **argv, int opts, int dflt_group, int *out_fd) {
  const char *in = opt_string(L, opts, "stdin");
  const char *out = opt_string(L, opts, "stdout");
  const char *err = opt_string(L, opts, "stderr");
  int pipe_out = opt_flag(L, opts, "pipe", 0), merge = opt_flag(L, opts, "merge", 0);
  int group = opt_flag(L, opts, "group", dflt_group);
  int p[2] = {-1, -1};
  if (pipe_out && pipe2(p, O_CLOEXEC) != 0) {
    lua_pushfstring(L, "cannot create a pipe: %s", strerror(errno));
    return 0;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
  if (pipe_out) posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  else if (out) posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (merge) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else if (err) posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_APPEND, 0644);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);   /* no descriptor of the sweep leaks into a run */
#endif
  sigset_t none, dflt;
  sigemptyset(&none);
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGINT);
  sigaddset(&dflt, SIGTERM);
  sigaddset(&dflt, SIGCHLD);
  sigaddset(&dflt, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dflt);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (pipe_out) close(p[1]);
  if (rc != 0) {
    if (pipe_out) close(p[0]);
    lua_pushfstring(L, "cannot run '%s': %s", argv[0], strerror(rc));
    return 0;
  }
  if (out_fd) *out_fd = p[0];
  return pid;
}

/* spawn(argv [, opts]) -> pid [, fd] | nil, message */
static int l_spawn(lua_State *L) {
  lua_settop(L, 2);
  char **argv = check_argv(L, 1, FN "spawn");
  if (!lua_isnoneornil(L, 2)) lt_checktype(L, 2, LUA_TTABLE);
  int fd = -1;
  pid_t pid = start(L, argv, 2, 1, &fd);
  if (!pid) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushinteger(L, pid);
  if (fd < 0) return 1;
  lua_pushinteger(L, fd);
  return 2;
}

/* the exit status as a shell reports it: the code, or 128 + the signal that ended it */
static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/* run(argv [, opts]) -> output, code | nil, message: runs a short command in this process group (a
   Ctrl-C reaches it too), stdout and stderr read together, and waits for it */
static int l_run(lua_State *L) {
  lua_settop(L, 2);
  char **argv = check_argv(L, 1, FN "run");
  if (!lua_isnoneornil(L, 2)) lt_checktype(L, 2, LUA_TTABLE);
  lua_createtable(L, 0, 2);   /* the options run always uses, over the caller's */
  int opts = lua_gettop(L);
  lua_pushboolean(L, 1);
  lua_setfield(L, opts, "pipe");
  lua_pushboolean(L, 1);
  lua_setfield(L, opts, "merge");
  if (!lua_isnoneornil(L, 2)) {
    const char *in = opt_string(L, 2, "stdin");
    if (in) { lua_pushstring(L, in); lua_setfield(L, opts, "stdin"); }
  }
  int fd = -1;
  pid_t pid = start(L, argv, opts, 0, &fd);
  if (!pid) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) luaL_addlstring(&b, chunk, (size_t)n);
    else if (n == 0 || errno != EINTR) break;
  }
  close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  luaL_pushresult(&b);
  lua_pushinteger(L, exit_code(status));
  return 2;
}

/* signal(pid, name [, group = true]) -> true | nil, message: the signal to pid's process group (the
   child and what it started), or to pid alone */
static int l_signal(lua_State *L) {
  pid_t pid = check_pid(L, 1, FN "signal");
  int sig = signal_number(L, 2, FN "signal");
  int group = lua_isnoneornil(L, 3) ? 1 : lua_toboolean(L, 3);
  if (kill(group ? -pid : pid, sig) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* alive(pid) -> whether a process with that id exists (one we may not signal counts) */
static int l_alive(lua_State *L) {
  lua_Integer pid = lt_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM));
  return 1;
}

/* cpus() -> the processors this process may run on */
static int l_cpus(lua_State *L) {
  cpu_set_t set;
  int n = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}

/* --- watching: the self-pipe ------------------------------------------------------------------------ */

struct sig_event { int sig, code; pid_t pid; };
static int sig_pipe[2] = {-1, -1};
static const int watched[] = {SIGINT, SIGTERM, SIGCHLD};
#define NWATCHED (sizeof watched / sizeof watched[0])
static struct sigaction saved[NWATCHED];

static void on_watched(int sig, siginfo_t *si, void *uctx) {
  (void)uctx;
  int saved_errno = errno;
  struct sig_event ev = {sig, si ? si->si_code : 0, si ? si->si_pid : 0};
  ssize_t r = write(sig_pipe[1], &ev, sizeof ev);   /* full pipe: the event is dropped, as signals merge */
  (void)r;
  errno = saved_errno;
}

/* reads the pending signal events into the list at events (INT and TERM only; SIGCHLD just wakes the
   poll); returns how many INT/TERM there were */
static int drain_signals(lua_State *L, int events, int push) {
  struct sig_event ev;
  int count = 0;
  while (read(sig_pipe[0], &ev, sizeof ev) == (ssize_t)sizeof ev) {
    if (ev.sig == SIGCHLD) continue;
    count++;
    if (!push) continue;
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "signal");
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, signal_name(ev.sig));
    lua_setfield(L, -2, "name");
    /* who sent it: a process (kill, timeout) or 0 for the kernel (a terminal's Ctrl-C) */
    lua_pushinteger(L, ev.code == SI_USER || ev.code == SI_QUEUE ? ev.pid : 0);
    lua_setfield(L, -2, "sender");
    lua_rawseti(L, events, luaL_len(L, events) + 1);
  }
  return count;
}

/* watch(on) -> whether it was on. On: the handlers above replace SIGINT's, SIGTERM's and SIGCHLD's
   (ember's own Ctrl-C handling is suspended); off: the old handlers are back, and the number of INT
   and TERM signals that came after the last wait is returned second. */
static int l_watch(lua_State *L) {
  int on = lua_toboolean(L, 1);
  int was = sig_pipe[0] >= 0;
  lua_pushboolean(L, was);
  if (on && !was) {
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      sig_pipe[0] = sig_pipe[1] = -1;
      return lt_error(L, "io", FN "watch: cannot create a pipe: %s", strerror(errno));
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_watched;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NWATCHED; i++) sigaddset(&sa.sa_mask, watched[i]);
    for (size_t i = 0; i < NWATCHED; i++) sigaction(watched[i], &sa, &saved[i]);
    return 1;
  }
  if (!on && was) {
    for (size_t i = 0; i < NWATCHED; i++) sigaction(watched[i], &saved[i], NULL);
    int late = drain_signals(L, 0, 0);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
    lua_pushinteger(L, late);
    return 2;
  }
  return 1;
}

/* appends an exit event for each pid of the list at idx that has ended */
static void reap(lua_State *L, int idx, int events) {
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    lua_Integer pid = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (pid <= 1 || pid > INT_MAX) continue;
    int status;
    pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) continue;
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "exit");
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, pid);
    lua_setfield(L, -2, "pid");
    if (r == (pid_t)pid) {   /* else ECHILD: reaped elsewhere, the code is unknown */
      lua_pushinteger(L, exit_code(status));
      lua_setfield(L, -2, "code");
    }
    lua_rawseti(L, events, luaL_len(L, events) + 1);
  }
}

/* reads what fd has into an event: {kind = "output", text} or {kind = "eof"} */
static void read_output(lua_State *L, int fd, int events) {
  char chunk[16384];
  ssize_t n;
  do n = read(fd, chunk, sizeof chunk); while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  lua_createtable(L, 0, 2);
  lua_pushstring(L, n > 0 ? "output" : "eof");
  lua_setfield(L, -2, "kind");
  if (n > 0) {
    lua_pushlstring(L, chunk, (size_t)n);
    lua_setfield(L, -2, "text");
  }
  lua_rawseti(L, events, luaL_len(L, events) + 1);
}

/* wait(pids, timeout [, fd]) -> a list of events, empty when timeout seconds passed without one:
   {kind = "exit", pid, code} for each child of the list pids that ended (code: its exit status, or 128 +
   the signal that killed it), {kind = "signal", name = "INT"|"TERM", sender} for each signal this
   process got, {kind = "output", text} / {kind = "eof"} for fd. Needs watch(true). */
static int l_wait(lua_State *L) {
  lt_checktype(L, 1, LUA_TTABLE);
  double timeout = lt_checknumber(L, 2);
  int fd = (int)lt_optinteger(L, 3, -1);
  if (sig_pipe[0] < 0) return lt_error(L, "state", FN "wait: call " FN "watch(true) first");
  lua_newtable(L);
  int events = lua_gettop(L);
  drain_signals(L, events, 1);
  reap(L, 1, events);
  if (luaL_len(L, events) > 0) return 1;
  struct timespec now, end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  double secs = timeout <= 0 ? 0 : timeout > 86400 ? 86400 : timeout;
  end.tv_sec += (time_t)secs;
  end.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
  if (end.tv_nsec >= 1000000000L) { end.tv_sec++; end.tv_nsec -= 1000000000L; }
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
    if (ms < 0) ms = 0;
    struct pollfd p[2] = {{sig_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
    /* a handler interrupts poll (EINTR, SA_RESTART or not): its event is in the pipe, read below */
    int r = poll(p, fd >= 0 ? 2 : 1, (int)ms);
    drain_signals(L, events, 1);
    if (r > 0 && fd >= 0 && p[1].revents) read_output(L, fd, events);
    reap(L, 1, events);
    if (luaL_len(L, events) > 0 || ms == 0) return 1;
  }
}

/* close(fd): the read end of a spawn's pipe */
static int l_close(lua_State *L) {
  lua_Integer fd = lt_checkinteger(L, 1);
  if (fd > 2 && fd <= INT_MAX) close((int)fd);
  return 0;
}

static const luaL_Reg fns[] = {
  {"spawn", l_spawn}, {"run", l_run}, {"signal", l_signal}, {"alive", l_alive}, {"cpus", l_cpus},
  {"watch", l_watch}, {"wait", l_wait}, {"close", l_close}, {NULL, NULL}};

void ember_open_process(lua_State *L) {
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "_process");
}
