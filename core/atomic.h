/* atomic.h - the files ember reads and writes whole. Replacing a file atomically: the new contents go to a temporary file beside it, which is
   flushed, optionally fsync'ed and renamed over it, so a reader or a crash sees the old file or the new
   one, never half of one. The temporary name is <path>.tmp.<pid> (<path>.tmp.<pid>.<k> when that is
   taken), created with O_EXCL | O_NOFOLLOW: a file or symlink planted at the name is never written
   through. Its mode is 0666 less the umask, as fopen's. Reading a user-named model or checkpoint file:
   em_open_regular, which never blocks on what is not a regular file. */
#ifndef EMBER_ATOMIC_H
#define EMBER_ATOMIC_H
#include <stdio.h>
#include <sys/stat.h>

typedef struct em_atomic {
  FILE *f;          /* write the new contents here */
  char *tmp;        /* the temporary file's name */
  char *path;       /* the file it replaces */
  const char *fn;   /* the caller's name for messages ("save") */
  int err;          /* after a failure: its errno, for callers that phrase their own message */
} em_atomic;

/* creates the temporary file; -1 + em_error ("FN: cannot write 'PATH': reason") */
int em_atomic_open(em_atomic *a, const char *path, const char *fn);
/* flushes, fsyncs when sync (then the directory entry too), closes and renames over path; on failure
   removes the temporary file, leaves path untouched and returns -1 + em_error. Frees a either way. */
int em_atomic_commit(em_atomic *a, int sync);
/* closes and removes the temporary file without touching path; frees a */
void em_atomic_abort(em_atomic *a);

/* Opens path for reading ("rb") into *f, its fstat into *st. The open is non-blocking, so a FIFO without
   a writer or a device answers at once instead of blocking fopen forever; anything but a regular file
   is then refused, and blocking reads are restored. Returns 0, or -1 + em_error ("FN: cannot open
   'PATH': why", or "FN: cannot read 'PATH': Is a directory" / "not a regular file"). */
int em_open_regular(const char *path, FILE **f, struct stat *st, const char *fn);
#endif
