/* test_checkpoint.c - the checkpoint format: bit-exact round trips of every kind, the exact bytes of a
   small file, corrupt and truncated files (each with its message, none crashing), and failed writes
   that must leave the old checkpoint alone. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "checkpoint.h"

static char dir[64];

static char *tpath(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static unsigned char *slurp(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
  *size = fread(p, 1, (size_t)n, f);
  fclose(f);
  return p;
}

static void spit(const char *path, const unsigned char *p, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(p, 1, n, f);
  fclose(f);
}

/* file names in dir that look like our temporary files */
static int count_tmp_files(const char *d) {
  DIR *dp = opendir(d);
  int n = 0;
  struct dirent *de;
  if (!dp) return -1;
  while ((de = readdir(dp)) != NULL) n += strstr(de->d_name, ".tmp.") != NULL;
  closedir(dp);
  return n;
}

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static double bits_d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

static em_ck_entry mk(const char *name, int kind) {
  em_ck_entry e;
  memset(&e, 0, sizeof e);
  e.name = (char *)name;
  e.name_len = strlen(name);
  e.kind = kind;
  return e;
}

/* the fixture every corruption test starts from: one entry of each kind */
static float fix_w[6], fix_s[1];
static char fix_bin[5] = {'\0', 'r', '\xff', '\n', '\0'};
static em_ck_entry fixture[10];
static size_t fixture_n;

static void make_fixture(void) {
  uint32_t w[6] = {0x7fc00001u /* NaN with payload */, 0x80000000u /* -0 */, 0x00000001u /* smallest denormal */,
                   0x7f800000u /* inf */, 0xff7fffffu /* -FLT_MAX */, 0x3f800000u /* 1 */};
  for (int i = 0; i < 6; i++) fix_w[i] = bits_f(w[i]);
  fix_s[0] = 2.5f;
  size_t n = 0;
  em_ck_entry e = mk("model.fc.weight", EM_CK_TENSOR);
  e.ndim = 2; e.shape[0] = 2; e.shape[1] = 3; e.data = fix_w;
  fixture[n++] = e;
  e = mk("scalar", EM_CK_TENSOR); e.ndim = 0; e.data = fix_s;         /* 0-d: one value */
  fixture[n++] = e;
  e = mk("empty", EM_CK_TENSOR); e.ndim = 3; e.shape[0] = 2; e.shape[1] = 0; e.shape[2] = 4;
  fixture[n++] = e;                                                    /* no data at all */
  e = mk("lr", EM_CK_NUMBER); e.number = bits_d(0x8000000000000000ull); /* -0.0 */
  fixture[n++] = e;
  e = mk("nan", EM_CK_NUMBER); e.number = bits_d(0x7ff8000000000123ull);
  fixture[n++] = e;
  e = mk("epoch", EM_CK_INTEGER); e.integer = INT64_MIN;
  fixture[n++] = e;
  e = mk("rng", EM_CK_STRING); e.str = fix_bin; e.len = sizeof fix_bin;
  fixture[n++] = e;
  e = mk("best", EM_CK_BOOLEAN); e.boolean = 1;
  fixture[n++] = e;
  e = mk("state", EM_CK_TABLE);
  fixture[n++] = e;
  e = mk("", EM_CK_STRING); e.str = ""; e.len = 0;                   /* empty name, empty string */
  fixture[n++] = e;
  fixture_n = n;
}

static int64_t numel_of(const em_ck_entry *e) {
  int64_t n = 1;
  for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
  return n;
}

/* bit-exact equality of two entries */
static int same_entry(const em_ck_entry *a, const em_ck_entry *b) {
  if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0) return 0;
  if (b->name[b->name_len] != '\0' || a->kind != b->kind) return 0;
  switch (a->kind) {
  case EM_CK_TENSOR:
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) != 0) return 0;
    return memcmp(a->data ? (void *)a->data : "", b->data, 4 * (size_t)numel_of(a)) == 0;
  case EM_CK_NUMBER: return memcmp(&a->number, &b->number, 8) == 0;
  case EM_CK_INTEGER: return a->integer == b->integer;
  case EM_CK_STRING:
    return a->len == b->len && memcmp(a->str, b->str, a->len) == 0 && b->str[b->len] == '\0';
  case EM_CK_BOOLEAN: return a->boolean == b->boolean;
  default: return 1;
  }
}

static void test_round_trip(void) {
  const char *p = tpath("all.ckpt");
  CHECK(em_checkpoint_write(p, fixture, fixture_n) == 0);
  em_ck_entry *es;
  size_t n;
  CHECK(em_checkpoint_read(p, &es, &n) == 0);
  CHECK(n == fixture_n);
  for (size_t i = 0; i < n && i < fixture_n; i++) {
    int same = same_entry(&fixture[i], &es[i]);
    CHECK(same);
    if (!same) fprintf(stderr, "  entry %zu (%s) differs\n", i + 1, fixture[i].name);
  }
  /* spot checks by value, not only against the fixture */
  uint32_t u;
  memcpy(&u, &es[0].data[0], 4);
  CHECK(u == 0x7fc00001u);
  memcpy(&u, &es[0].data[1], 4);
  CHECK(u == 0x80000000u);
  CHECK(es[0].data[2] > 0 && es[0].data[2] < FLT_MIN);
  CHECK(es[1].ndim == 0 && es[1].data[0] == 2.5f);
  CHECK(es[2].ndim == 3 && es[2].shape[1] == 0 && es[2].data != NULL);
  CHECK(signbit(es[3].number) && es[3].number == 0.0);
  CHECK(es[5].integer == INT64_MIN);
  CHECK(es[6].len == 5 && es[6].str[2] == '\xff' && es[6].str[4] == '\0');
  CHECK(es[7].boolean == 1 && es[8].kind == EM_CK_TABLE);
  CHECK(es[9].name_len == 0 && es[9].name[0] == '\0' && es[9].len == 0);
  em_checkpoint_free(es, n);

  /* the memory reader agrees */
  size_t size;
  unsigned char *buf = slurp(p, &size);
  CHECK(em_checkpoint_read_mem(buf, size, "mem", &es, &n) == 0 && n == fixture_n);
  if (n == fixture_n) CHECK(same_entry(&fixture[6], &es[6]));
  em_checkpoint_free(es, n);
  free(buf);

  /* zero entries is a valid checkpoint of 16 bytes */
  CHECK(em_checkpoint_write(tpath("none.ckpt"), NULL, 0) == 0);
  CHECK(em_checkpoint_read(tpath("none.ckpt"), &es, &n) == 0 && n == 0);
  em_checkpoint_free(es, n);
  buf = slurp(tpath("none.ckpt"), &size);
  CHECK(size == 16);
  free(buf);
  CHECK(count_tmp_files(dir) == 0);
}

/* the exact bytes, written out by hand from the format description */
static void test_layout(void) {
  float w[2] = {1.0f, -2.0f};
  em_ck_entry es[2];
  es[0] = mk("a", EM_CK_NUMBER);
  es[0].number = 1.0;
  es[1] = mk("w", EM_CK_TENSOR);
  es[1].ndim = 1; es[1].shape[0] = 2; es[1].data = w;
  const unsigned char want[] = {
    'E', 'M', 'B', 'R', 1, 0, 0, 0, 2, 0, 0, 0,
    1, 0, 0, 0, 'a', 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,                       /* "a": number 1.0 */
    1, 0, 0, 0, 'w', 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,                 /* "w": tensor [2] */
    0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0};                                      /* 1.0f, -2.0f */
  const char *p = tpath("layout.ckpt");
  CHECK(em_checkpoint_write(p, es, 2) == 0);
  size_t size;
  unsigned char *got = slurp(p, &size);
  CHECK(size == sizeof want + 4);
  CHECK(got && memcmp(got, want, sizeof want) == 0);
  uint32_t crc = (uint32_t)crc32(0L, want, sizeof want);
  CHECK(got[sizeof want] == (crc & 0xff) && got[sizeof want + 1] == ((crc >> 8) & 0xff) &&
        got[sizeof want + 2] == ((crc >> 16) & 0xff) && got[sizeof want + 3] == crc >> 24);
  free(got);
}

/* reads a corrupt buffer through the file reader, expects failure with msg in the message */
static void expect_bad(const unsigned char *p, size_t n, const char *msg) {
  const char *path = tpath("bad.ckpt");
  spit(path, p, n);
  em_ck_entry *es = (em_ck_entry *)1;
  size_t cnt = 99;
  em_clear_error();
  CHECK(em_checkpoint_read(path, &es, &cnt) == -1);
  CHECK(es == NULL && cnt == 0);
  CHECK_STR_CONTAINS(em_error(), msg);
  CHECK_STR_CONTAINS(em_error(), "bad.ckpt'");
  /* the memory reader says the same (it is the fuzz target's entry point) */
  CHECK(em_checkpoint_read_mem(p, n, "m", &es, &cnt) == -1);
  CHECK_STR_CONTAINS(em_error(), msg);
}

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }

static void test_corrupt(void) {
  size_t size;
  unsigned char *good = slurp(tpath("all.ckpt"), &size);
  unsigned char *b = malloc(size + 16);
  if (!good || !b) { CHECK(0); return; }

  memcpy(b, good, size); b[0] = 'X';
  expect_bad(b, size, "is not an ember checkpoint (bad magic)");
  expect_bad((const unsigned char *)"PK\3\4", 4, "(bad magic)");
  expect_bad((const unsigned char *)"EMBRxxxxxxxxxxxxxxxxxxxx", 24, "has format version 2021161080");
  memcpy(b, good, size); b[4] = 2;
  expect_bad(b, size, "has format version 2; this ember reads version 1");

  /* a flipped byte inside a payload (name, float data, string) passes the structure checks: the CRC
     catches it */
  size_t name0 = 16, data0 = 12 + 4 + 15 + 1 + 4 + 16;    /* header, name len, name, kind, ndim, shape */
  memcpy(b, good, size); b[name0] ^= 0x20;
  expect_bad(b, size, "is corrupt (CRC mismatch)");
  memcpy(b, good, size); b[data0 + 9] ^= 0x01;
  expect_bad(b, size, "is corrupt (CRC mismatch)");
  memcpy(b, good, size); b[size - 1] ^= 0x80;             /* the CRC itself */
  expect_bad(b, size, "is corrupt (CRC mismatch)");

  /* any single flipped bit anywhere is refused (CRC-32 detects every 1-bit error), and never crashes */
  int refused = 0;
  for (size_t i = 0; i < size; i++)
    for (int bit = 0; bit < 8; bit++) {
      em_ck_entry *es;
      size_t n;
      memcpy(b, good, size);
      b[i] ^= (unsigned char)(1u << bit);
      if (em_checkpoint_read_mem(b, size, "flip", &es, &n) == -1) refused++;
      else em_checkpoint_free(es, n);
    }
  CHECK(refused == (int)size * 8);

  /* truncated at every length: always "is truncated", from the empty file up to a missing CRC byte */
  int truncated = 0;
  for (size_t len = 0; len < size; len++) {
    em_ck_entry *es;
    size_t n;
    if (em_checkpoint_read_mem(good, len, "t", &es, &n) == -1 && strstr(em_error(), "'t' is truncated"))
      truncated++;
    else fprintf(stderr, "  truncated at %zu: %s\n", len, em_error());
  }
  CHECK(truncated == (int)size);
  expect_bad(good, 0, "is truncated");
  expect_bad(good, size - 1, "is truncated");

  /* a byte too many */
  memcpy(b, good, size); b[size] = 0;
  expect_bad(b, size + 1, "is corrupt (1 unexpected bytes after the last entry)");

  /* absurd length fields give a message, not a huge malloc: ASan would fail these otherwise */
  memcpy(b, good, size); put32(b + 8, 0xffffffffu);
  expect_bad(b, size, "is truncated (4294967295 entries cannot fit in");
  memcpy(b, good, size); put32(b + 12, 0xffffffffu);
  expect_bad(b, size, "is truncated (entry 1: name needs 4294967295 bytes,");
  memcpy(b, good, size); put32(b + 32, 0xffffffffu);
  expect_bad(b, size, "is corrupt (entry 1: tensor of rank 4294967295, at most 8)");
  memcpy(b, good, size); put32(b + 32, 9);
  expect_bad(b, size, "is corrupt (entry 1: tensor of rank 9, at most 8)");
  memcpy(b, good, size); put64(b + 36, (uint64_t)-2);
  expect_bad(b, size, "is corrupt (entry 1: negative size in tensor shape)");
  memcpy(b, good, size); put64(b + 36, 1ull << 40); put64(b + 44, 1ull << 40);
  expect_bad(b, size, "is truncated (entry 1: tensor [1099511627776 x 1099511627776] needs more than");
  memcpy(b, good, size); put64(b + 36, 1ull << 62); put64(b + 44, 4);   /* product overflows int64 */
  expect_bad(b, size, "is truncated (entry 1: tensor [4611686018427387904 x 4] needs more than");
  /* [2 x 4] swallows entry 2's name length and "scal"; "ar", kind 1, ndim 0 read as a length */
  memcpy(b, good, size); put64(b + 44, 4);
  expect_bad(b, size, "is truncated (entry 2: name needs 94817 bytes,");
  memcpy(b, good, size); b[31] = 9;                                      /* kind */
  expect_bad(b, size, "is corrupt (entry 1: unknown kind 9)");

  /* later entries: find them by walking the fixture layout */
  size_t off = data0 + 6 * 4;                                            /* entry 2 "scalar" */
  off += 4 + 6 + 1 + 4 + 4;                                              /* 0-d: no shape, one float */
  off += 4 + 5 + 1 + 4 + 3 * 8;                                          /* entry 3 "empty": no data */
  off += 4 + 2 + 1 + 8;                                                  /* entry 4 "lr" */
  off += 4 + 3 + 1 + 8;                                                  /* entry 5 "nan" */
  off += 4 + 5 + 1 + 8;                                                  /* entry 6 "epoch" */
  CHECK(good[off] == 3 && memcmp(good + off + 4, "rng", 3) == 0);       /* entry 7 "rng" */
  memcpy(b, good, size); put32(b + off + 8, 0xfffffff0u);
  expect_bad(b, size, "is truncated (entry 7: string needs 4294967280 bytes,");
  off += 4 + 3 + 1 + 4 + 5;
  CHECK(good[off] == 4 && memcmp(good + off + 4, "best", 4) == 0);
  memcpy(b, good, size); b[off + 9] = 2;
  expect_bad(b, size, "is corrupt (entry 8: boolean that is neither 0 nor 1)");

  /* an empty tensor whose other sizes overflow, with a valid CRC: refused before any stride is formed */
  em_ck_entry huge = mk("empty", EM_CK_TENSOR);
  huge.ndim = 3;
  huge.shape[0] = 0; huge.shape[1] = (int64_t)1 << 62; huge.shape[2] = (int64_t)1 << 62;
  CHECK(em_checkpoint_write(tpath("huge.ckpt"), &huge, 1) == 0);
  size_t hsize;
  unsigned char *hb = slurp(tpath("huge.ckpt"), &hsize);
  if (hb) expect_bad(hb, hsize, "is corrupt (entry 1: empty tensor [0 x 4611686018427387904 x "
                                "4611686018427387904] is too large: its sizes other than 0 multiply to more than 2^40)");
  free(hb);

  /* not a file */
  em_ck_entry *es;
  size_t n;
  CHECK(em_checkpoint_read(tpath("missing.ckpt"), &es, &n) == -1);
  CHECK_STR_CONTAINS(em_error(), "load: cannot open '");
  CHECK_STR_CONTAINS(em_error(), "missing.ckpt': No such file or directory");
  CHECK(em_checkpoint_read(dir, &es, &n) == -1);
  CHECK_STR_CONTAINS(em_error(), "Is a directory");
  free(b);
  free(good);
}

/* true when path holds exactly the bytes of want */
static int file_is(const char *path, const unsigned char *want, size_t n) {
  size_t size;
  unsigned char *got = slurp(path, &size);
  int ok = got && size == n && memcmp(got, want, n) == 0;
  free(got);
  return ok;
}

static void test_write_errors(void) {
  const char *p = tpath("keep.ckpt");
  CHECK(em_checkpoint_write(p, fixture, 2) == 0);
  size_t size;
  unsigned char *old = slurp(p, &size);

  /* overwriting replaces the whole file */
  CHECK(em_checkpoint_write(p, fixture + 3, 1) == 0);
  em_ck_entry *es;
  size_t n;
  CHECK(em_checkpoint_read(p, &es, &n) == 0 && n == 1 && es[0].kind == EM_CK_NUMBER);
  em_checkpoint_free(es, n);
  CHECK(em_checkpoint_write(p, fixture, 2) == 0);
  CHECK(file_is(p, old, size));

  /* a directory that does not exist */
  char missing[128];
  snprintf(missing, sizeof missing, "%s/nodir/x.ckpt", dir);
  CHECK(em_checkpoint_write(missing, fixture, 2) == -1);
  CHECK_STR_CONTAINS(em_error(), "save: cannot write '");
  CHECK_STR_CONTAINS(em_error(), "/nodir/x.ckpt': No such file or directory");

  /* disk full, simulated by a file size limit: the write fails half way, the old file stays */
  struct rlimit old_lim, lim;
  getrlimit(RLIMIT_FSIZE, &old_lim);
  lim = old_lim;
  lim.rlim_cur = 4096;
  signal(SIGXFSZ, SIG_IGN);
  float *big = calloc(4096, sizeof(float));
  em_ck_entry e = mk("big", EM_CK_TENSOR);
  e.ndim = 1; e.shape[0] = 4096; e.data = big;
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  int rc = em_checkpoint_write(p, &e, 1);
  setrlimit(RLIMIT_FSIZE, &old_lim);
  CHECK(rc == -1);
  CHECK_STR_CONTAINS(em_error(), "keep.ckpt': File too large");
  CHECK(file_is(p, old, size));
  CHECK(count_tmp_files(dir) == 0);
  free(big);

  /* the rename fails (the target is a non-empty directory): temp file removed, target untouched */
  const char *d = tpath("adir.ckpt");
  mkdir(d, 0755);
  char inner[160];
  snprintf(inner, sizeof inner, "%s/inside", d);
  spit(inner, (const unsigned char *)"x", 1);
  CHECK(em_checkpoint_write(d, fixture, 2) == -1);
  CHECK_STR_CONTAINS(em_error(), "adir.ckpt': Is a directory");
  CHECK(file_is(inner, (const unsigned char *)"x", 1));
  CHECK(count_tmp_files(dir) == 0);
  remove(inner);
  rmdir(d);

  /* an unwritable directory (root ignores permissions, so only as a normal user) */
  if (geteuid() != 0) {
    const char *ro = tpath("ro");
    char rop[160];
    mkdir(ro, 0755);
    snprintf(rop, sizeof rop, "%s/keep.ckpt", ro);
    CHECK(em_checkpoint_write(rop, fixture, 2) == 0);
    chmod(ro, 0555);
    CHECK(em_checkpoint_write(rop, fixture + 3, 1) == -1);
    CHECK_STR_CONTAINS(em_error(), "Permission denied");
    CHECK(file_is(rop, old, size));
    chmod(ro, 0755);
    remove(rop);
    rmdir(ro);
  }

  /* entries the reader would refuse are refused before any file is touched */
  e = mk("k", 42);
  CHECK(em_checkpoint_write(p, &e, 1) == -1);
  CHECK_STR_CONTAINS(em_error(), "entry 1 has unknown kind 42");
  e = mk("t", EM_CK_TENSOR);
  e.ndim = 9;
  CHECK(em_checkpoint_write(p, &e, 1) == -1);
  CHECK_STR_CONTAINS(em_error(), "entry 1 has an invalid shape");
  e.ndim = 1; e.shape[0] = 3; e.data = NULL;
  CHECK(em_checkpoint_write(p, &e, 1) == -1);
  CHECK_STR_CONTAINS(em_error(), "entry 1 has no data");
  CHECK(file_is(p, old, size));
  CHECK(count_tmp_files(dir) == 0);
  free(old);
}

/* a symlink or a file planted at the temporary name is not written through */
static void test_planted_temp(void) {
  const char *victim = tpath("victim"), *target = tpath("planted.ckpt");
  static const unsigned char precious[] = "precious";
  spit(victim, precious, sizeof precious);
  char tmpname[300];
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", target, (long)getpid());
  CHECK(symlink(victim, tmpname) == 0);
  CHECK(em_checkpoint_write(target, fixture, fixture_n) == 0);
  CHECK(file_is(victim, precious, sizeof precious));
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld.1", target, (long)getpid());
  spit(tmpname, precious, sizeof precious);
  CHECK(em_checkpoint_write(target, fixture, fixture_n) == 0);
  CHECK(file_is(tmpname, precious, sizeof precious));
  em_ck_entry *back;
  size_t nback;
  CHECK(em_checkpoint_read(target, &back, &nback) == 0 && nback == fixture_n);
  em_checkpoint_free(back, nback);

}

static void cleanup(void) {
  DIR *dp = opendir(dir);
  struct dirent *de;
  if (!dp) return;
  while ((de = readdir(dp)) != NULL)
    if (de->d_name[0] != '.') remove(tpath(de->d_name));
  closedir(dp);
  rmdir(dir);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/ember-ckpt-XXXXXX");
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
  make_fixture();
  test_round_trip();
  test_layout();
  test_corrupt();
  test_write_errors();
  test_planted_temp();
  cleanup();
  return CHECK_DONE();
}
