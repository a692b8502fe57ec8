/* scratch.h - what the C tests that write files share: a scratch folder (scratch_open, scratch_close),
   paths in it, whole files read and written, and a file size limit that makes writes fail half way as
   on a full disk. */
#ifndef EMBER_SCRATCH_H
#define EMBER_SCRATCH_H
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static char scratch[64];

/* makes /tmp/ember-TAG-XXXXXX; 0, or -1 with the reason printed */
static inline int scratch_open(const char *tag) {
  snprintf(scratch, sizeof scratch, "/tmp/ember-%s-XXXXXX", tag);
  if (mkdtemp(scratch)) return 0;
  perror("mkdtemp");
  return -1;
}

/* removes the scratch folder and what it holds */
static inline void scratch_close(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
}

/* scratch/name, in one of 8 buffers used in turn (so a call may take a few paths at once) */
static inline const char *tpath(const char *name) {
  static char buf[8][256];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
  return buf[k];
}

/* the whole file (malloc'ed, for the caller to free) and its size; NULL and size 0 when it cannot be
   opened */
static inline unsigned char *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  *size = 0;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
  if (p) *size = fread(p, 1, (size_t)n, f);
  fclose(f);
  return p;
}

/* writes n bytes to path; a file the test cannot write ends it (status 2) */
static inline void spit(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) { perror(path); exit(2); }
  if (n) fwrite(p, 1, n, f);
  fclose(f);
}

static struct rlimit scratch_old_limit;

/* limits the size of any file this process writes to bytes (a write past it fails with EFBIG instead
   of raising SIGXFSZ); 0, or -1. file_size_unlimit() puts the old limit back. */
static inline int file_size_limit(rlim_t bytes) {
  struct rlimit lim;
  getrlimit(RLIMIT_FSIZE, &scratch_old_limit);
  lim = scratch_old_limit;
  lim.rlim_cur = bytes;
  signal(SIGXFSZ, SIG_IGN);
  return setrlimit(RLIMIT_FSIZE, &lim);
}

static inline void file_size_unlimit(void) { setrlimit(RLIMIT_FSIZE, &scratch_old_limit); }
#endif
