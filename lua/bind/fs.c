/* fs.c (binding) - the file-system calls that guard a run directory: an exclusive lock held for a
   process's life (flock on a lock file), the real path of a file (symlinks and .. resolved), and
   whether a process still lives. Failures the outside world causes return nil and a message. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "bind.h"

#define LOCK_MT "ember.Lock"

typedef struct lock_box { int fd; } lock_box;

/* the pid written in a lock file by its holder, or 0 when it cannot be read */
static lua_Integer holder_pid(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *end;
  long pid = strtol(buf, &end, 10);
  return pid > 0 ? (lua_Integer)pid : 0;
}

/* ember._lock(path) -> a lock, or nil and the pid of the process that holds it (0 when unknown), or nil,
   nil and a message when the file cannot be opened or locked. The lock writes this process's pid into
   the file and is released by lock:unlock(), by garbage collection, or when the process ends in any way
   (kill -9 included: the kernel drops it). Not inherited by programs the process starts (close-on-exec). */
static int l_lock(lua_State *L) {
  const char *path = lt_check_path(L, 1, "_lock");
  lock_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->fd = -1;
  luaL_setmetatable(L, LOCK_MT);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot open '%s': %s", path, strerror(errno));
    return 3;
  }
  /* the pid is written into it: never into a device, a folder or a file linked from elsewhere */
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    close(fd);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot lock '%s': not a plain file of its own", path);
    return 3;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    lua_Integer pid = err == EWOULDBLOCK ? holder_pid(fd) : 0;
    close(fd);
    lua_pushnil(L);
    if (err == EWOULDBLOCK) { lua_pushinteger(L, pid); return 2; }
    lua_pushnil(L);
    lua_pushfstring(L, "cannot lock '%s': %s", path, strerror(err));
    return 3;
  }
  b->fd = fd;
  char text[32];
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  /* the pid only words the message of a process that finds the lock taken (the flock is the lock), so
     a failure to write it keeps the lock */
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, text, (size_t)n, 0);
  return 1;
}

/* lock:unlock(), __gc and __close: releases the lock; may run more than once */
static int lock_unlock(lua_State *L) {
  lock_box *b = luaL_checkudata(L, 1, LOCK_MT);
  if (b->fd >= 0) {
    close(b->fd);
    b->fd = -1;
  }
  return 0;
}

/* ember._realpath(path) -> the absolute path with every symlink, "." and ".." resolved, or nil and a
   message (the file does not exist, ...) */
static int l_realpath(lua_State *L) {
  const char *path = lt_check_path(L, 1, "_realpath");
  char *r = realpath(path, NULL);
  if (!r) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_pushstring(L, r);
  free(r);
  return 1;
}

/* ember._pid_alive(pid) -> true while a process with that id exists (one of another user's included) */
static int l_pid_alive(lua_State *L) {
  lua_Integer pid = lt_checkinteger(L, 1);
  if (pid <= 0 || pid > INT_MAX) { lua_pushboolean(L, 0); return 1; }
  lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
  return 1;
}

static const luaL_Reg fns[] = {
  {"_lock", l_lock}, {"_realpath", l_realpath}, {"_pid_alive", l_pid_alive}, {NULL, NULL}};

void ember_open_fs(lua_State *L) {
  luaL_newmetatable(L, LOCK_MT);
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "__close");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "unlock");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  ember_register(L, fns);
}
