/* atomic.c - atomic replacement of a file through a temporary file opened with O_EXCL | O_NOFOLLOW,
   fsync and rename, and the non-blocking open of a file to read (atomic.h). Used by checkpoints and by ember's text files (meta.tsv, metrics). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atomic.h"
#include "error.h"

#define MAX_TRIES 100   /* <path>.tmp.<pid>, then .1 .. .99: stale files of dead processes, planted ones */

static int fail(em_atomic *a, int err) {
  a->err = err;
  return em_fail_kind(err == ENOMEM ? EM_ENOMEM : EM_EIO, "%s: cannot write '%s': %s", a->fn, a->path, strerror(err));
}

static void release(em_atomic *a) {
  free(a->tmp);
  free(a->path);
  a->tmp = a->path = NULL;
  a->f = NULL;
}

int em_atomic_open(em_atomic *a, const char *path, const char *fn) {
  memset(a, 0, sizeof *a);
  a->fn = fn;
  size_t len = strlen(path) + 48;
  a->path = strdup(path);
  a->tmp = malloc(len);
  if (!a->path || !a->tmp) {
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    a->err = ENOMEM;
    return em_fail_kind(EM_ENOMEM, "%s: cannot write '%s': out of memory", fn, path);
  }
  int fd = -1, err = 0;
  for (int k = 0; k < MAX_TRIES && fd < 0; k++) {
    if (k == 0) snprintf(a->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    else snprintf(a->tmp, len, "%s.tmp.%ld.%d", path, (long)getpid(), k);
    fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    err = errno;
    if (fd < 0 && err != EEXIST) break;
  }
  if (fd >= 0 && !(a->f = fdopen(fd, "wb"))) {
    err = errno;
    close(fd);
    unlink(a->tmp);
  }
  if (!a->f) {
    int rc = fail(a, err);
    release(a);
    return rc;
  }
  return 0;
}

/* After the rename the directory entry itself must reach the disk, or a power cut can bring the old
   name back; best effort, since some file systems refuse fsync on directories. */
static void sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (!slash) dir = strdup(".");
  else if (slash == path) dir = strdup("/");
  else {
    dir = malloc((size_t)(slash - path) + 1);
    if (dir) { memcpy(dir, path, (size_t)(slash - path)); dir[slash - path] = '\0'; }
  }
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
  free(dir);
}

int em_atomic_commit(em_atomic *a, int sync) {
  int err = 0;
  if (ferror(a->f)) err = errno ? errno : EIO;
  if (!err && fflush(a->f) != 0) err = errno ? errno : EIO;
  if (!err && sync && fsync(fileno(a->f)) != 0) err = errno;
  if (fclose(a->f) != 0 && !err) err = errno ? errno : EIO;
  a->f = NULL;
  if (!err && rename(a->tmp, a->path) != 0) err = errno;
  if (err) {
    unlink(a->tmp);
    int rc = fail(a, err);
    release(a);
    return rc;
  }
  if (sync) sync_dir(a->path);
  release(a);
  return 0;
}

void em_atomic_abort(em_atomic *a) {
  if (a->f) fclose(a->f);
  if (a->tmp) unlink(a->tmp);
  release(a);
}

int em_open_regular(const char *path, FILE **f, struct stat *st, const char *fn) {
  *f = NULL;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return em_fail_kind(EM_EIO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
  int err = fstat(fd, st) != 0 ? errno : S_ISDIR(st->st_mode) ? EISDIR : 0;
  if (!err && !S_ISREG(st->st_mode)) {
    close(fd);
    return em_fail_kind(EM_EIO, "%s: cannot read '%s': not a regular file", fn, path);
  }
  if (!err) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) err = errno;
  }
  if (!err && !(*f = fdopen(fd, "rb"))) err = errno ? errno : ENOMEM;
  if (!err) return 0;
  close(fd);
  return em_fail_kind(err == ENOMEM ? EM_ENOMEM : EM_EIO, "%s: cannot read '%s': %s", fn, path, strerror(err));
}
