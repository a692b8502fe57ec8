/* test_data.c - the IDX and CSV parsers on small good and broken files this test writes itself, and the
   tensor-side helpers of data.c: row gathering, per-feature statistics, rescaling, synthetic data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "data.h"

static char dir[64];

static const char *path_of(const char *name) {
  static char buf[8][256];
  static int k;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

static const char *write_raw(const char *name, const void *data, size_t n) {
  const char *p = path_of(name);
  FILE *f = fopen(p, "wb");
  if (!f) { perror(p); exit(2); }
  if (n) fwrite(data, 1, n, f);
  fclose(f);
  return p;
}

static const char *write_gz(const char *name, const void *data, size_t n) {
  const char *p = path_of(name);
  gzFile f = gzopen(p, "wb");
  if (!f) { perror(p); exit(2); }
  gzwrite(f, data, (unsigned)n);
  gzclose(f);
  return p;
}

static const char *write_text(const char *name, const char *text) {
  return write_raw(name, text, strlen(text));
}

static size_t file_bytes(const char *p, unsigned char *buf, size_t cap) {
  FILE *f = fopen(p, "rb");
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

/* an IDX header for unsigned bytes: 0 0 8 ndim, then big-endian dims */
static size_t idx_header(unsigned char *b, int ndim, const unsigned *dims) {
  b[0] = 0; b[1] = 0; b[2] = 8; b[3] = (unsigned char)ndim;
  for (int d = 0; d < ndim; d++) {
    b[4 + 4 * d] = (unsigned char)(dims[d] >> 24);
    b[5 + 4 * d] = (unsigned char)(dims[d] >> 16);
    b[6 + 4 * d] = (unsigned char)(dims[d] >> 8);
    b[7 + 4 * d] = (unsigned char)dims[d];
  }
  return 4 + 4 * (size_t)ndim;
}

/* loads a file expected to fail and checks the message names the file and the fault */
static void idx_fails(const char *p, const char *fault) {
  em_idx idx;
  em_clear_error();
  CHECK(em_idx_load(p, &idx) == -1);
  CHECK(idx.data == NULL);
  CHECK_STR_CONTAINS(em_error(), p);
  CHECK_STR_CONTAINS(em_error(), fault);
}

static void test_idx(void) {
  unsigned char b[256];
  /* two 2x3 images, raw */
  unsigned dims3[3] = {2, 2, 3};
  size_t h = idx_header(b, 3, dims3);
  unsigned char px[12] = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 255};
  memcpy(b + h, px, 12);
  const char *raw = write_raw("img.idx", b, h + 12);
  em_idx idx;
  CHECK(em_idx_load(raw, &idx) == 0);
  CHECK(idx.ndim == 3 && idx.dims[0] == 2 && idx.dims[1] == 2 && idx.dims[2] == 3);
  CHECK(idx.count == 12);
  CHECK(idx.data && idx.data[1] == 255 && idx.data[11] == 255 && idx.data[4] == 1);
  em_idx_free(&idx);

  /* the same bytes gzipped read the same */
  const char *gz = write_gz("img.idx.gz", b, h + 12);
  CHECK(em_idx_load(gz, &idx) == 0);
  CHECK(idx.count == 12 && idx.data[2] == 51 && idx.data[3] == 102);
  em_idx_free(&idx);

  /* as a tensor: (N, 1, H, W) scaled by 1/255 */
  em_tensor *t = em_idx_read(gz);
  CHECK(t != NULL);
  if (t) {
    CHECK(t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 1 && t->shape[2] == 2 && t->shape[3] == 3);
    const float *v = em_data(t);
    CHECK_CLOSE(v[0], 0.0, 1e-7);
    CHECK_CLOSE(v[1], 1.0, 1e-7);
    CHECK_CLOSE(v[2], 0.2, 1e-7);     /* 51 / 255 */
    CHECK_CLOSE(v[3], 0.4, 1e-7);     /* 102 / 255 */
    CHECK_CLOSE(v[11], 1.0, 1e-7);
    em_tensor_release(t);
  }

  /* labels: bytes 0, 9, 4 become class indices 1, 10, 5 */
  unsigned dims1[1] = {3};
  h = idx_header(b, 1, dims1);
  b[h] = 0; b[h + 1] = 9; b[h + 2] = 4;
  const char *lab = write_gz("lab.idx.gz", b, h + 3);
  t = em_idx_read(lab);
  CHECK(t != NULL);
  if (t) {
    CHECK(t->ndim == 1 && t->shape[0] == 3);
    CHECK(em_data(t)[0] == 1.0f && em_data(t)[1] == 10.0f && em_data(t)[2] == 5.0f);
    em_tensor_release(t);
  }
  /* two labels for two images make a pair; three do not */
  h = idx_header(b, 1, (unsigned[]){2});
  b[h] = 7; b[h + 1] = 3;
  const char *lab2 = write_raw("lab2.idx", b, h + 2);
  em_tensor *x = NULL, *y = NULL;
  CHECK(em_idx_read_pair(raw, lab2, &x, &y) == 0);
  CHECK(x && y && x->shape[0] == 2 && y->shape[0] == 2 && em_data(y)[0] == 8.0f);
  em_tensor_release(x);
  em_tensor_release(y);
  CHECK(em_idx_read_pair(raw, lab, &x, &y) == -1);
  CHECK(x == NULL && y == NULL);
  CHECK_STR_CONTAINS(em_error(), "2 images but");
  CHECK_STR_CONTAINS(em_error(), "3 labels");
  CHECK_STR_CONTAINS(em_error(), lab);
  CHECK(em_idx_read_pair(lab, lab, &x, &y) == -1);
  CHECK_STR_CONTAINS(em_error(), "not a set of images");
  CHECK(em_idx_read_pair(raw, raw, &x, &y) == -1);
  CHECK_STR_CONTAINS(em_error(), "not a list of labels");

  /* a 2-d array is neither images nor labels */
  h = idx_header(b, 2, (unsigned[]){2, 2});
  memset(b + h, 1, 4);
  const char *two = write_raw("two.idx", b, h + 4);
  CHECK(em_idx_load(two, &idx) == 0);
  em_idx_free(&idx);
  CHECK(em_idx_read(two) == NULL);
  CHECK_STR_CONTAINS(em_error(), "neither images");

  /* broken files */
  unsigned char bad[8] = {0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 1};
  idx_fails(write_raw("magic.idx", "\x01\x02\x08\x01\0\0\0\1x", 9), "not an IDX file (magic number 0x01020801");
  bad[0] = 0; bad[2] = 0x0D;
  idx_fails(write_raw("float.idx", bad, 8), "0x0d (float) is not supported");
  bad[2] = 0x08; bad[3] = 0;
  idx_fails(write_raw("ndim0.idx", bad, 8), "declares 0 dimensions");
  idx_fails(write_raw("short.idx", "\0\0", 2), "too short for an IDX header (2 bytes)");
  idx_fails(write_raw("empty.idx", "", 0), "too short for an IDX header (0 bytes)");
  idx_fails(write_raw("headcut.idx", "\0\0\x08\x03\0\0\0\2\0\0", 10), "truncated IDX header (6 of 12");

  h = idx_header(b, 3, (unsigned[]){2, 2, 2});
  memset(b + h, 9, 5);
  idx_fails(write_raw("trunc.idx", b, h + 5), "truncated: the header declares [2 x 2 x 2] = 8 bytes of data, the file has 5");
  idx_fails(write_gz("trunc.idx.gz", b, h + 5), "the file has 5");
  memset(b + h, 9, 10);
  idx_fails(write_raw("trail.idx", b, h + 10), "unexpected data after the 8 bytes");
  h = idx_header(b, 3, (unsigned[]){0xFFFFFFFFu, 0xFFFFFFFFu, 16});
  idx_fails(write_raw("huge.idx", b, h + 4), "absurd IDX dimensions [4294967295 x 4294967295 x 16]");
  h = idx_header(b, 3, (unsigned[]){100000, 28, 28});
  idx_fails(write_raw("lying.idx", b, h + 4), "78400000 bytes of data, more than the file can hold");
  h = idx_header(b, 2, (unsigned[]){3, 0});
  idx_fails(write_raw("zero.idx", b, h), "dimension 2 is 0");
  idx_fails(path_of("no-such-file.idx"), "No such file");

  /* a gzip stream cut in half, and one with its deflate data overwritten */
  unsigned char big[4096], file[8192];
  h = idx_header(big, 1, (unsigned[]){4000});
  for (size_t i = h; i < h + 4000; i++) big[i] = (unsigned char)(i * 7919 % 251);
  const char *full = write_gz("full.idx.gz", big, h + 4000);
  CHECK(em_idx_load(full, &idx) == 0);
  CHECK(idx.count == 4000 && idx.data[10] == (unsigned char)((h + 10) * 7919 % 251));
  em_idx_free(&idx);
  size_t n = file_bytes(full, file, sizeof file);
  CHECK(n > 100);
  idx_fails(write_raw("cut.idx.gz", file, n / 2), "unexpected end of file");
  for (size_t i = 12; i < n - 8; i++) file[i] = 0xFF;
  idx_fails(write_raw("corrupt.idx.gz", file, n), "corrupt.idx.gz: ");
  em_clear_error();
}

static void csv_fails(const char *p, char sep, int header, const char *fault) {
  em_csv c;
  em_clear_error();
  CHECK(em_csv_load(p, sep, header, &c) == -1);
  CHECK(c.data == NULL && c.names == NULL);
  CHECK_STR_CONTAINS(em_error(), p);
  CHECK_STR_CONTAINS(em_error(), fault);
}

static void test_csv(void) {
  em_csv c;
  /* header with a quoted name, CRLF, blank lines, spaces around fields, exponents, negatives */
  const char *p = write_text("good.csv", "age, \"b,m\"\"i\" ,y\r\n\r\n1, 2.5 ,-3\r\n  \n4e1,5,6\r\n");
  CHECK(em_csv_load(p, ',', 1, &c) == 0);
  CHECK(c.rows == 2 && c.cols == 3);
  if (c.names) {
    CHECK(strcmp(c.names[0], "age") == 0);
    CHECK(strcmp(c.names[1], "b,m\"i") == 0);
    CHECK(strcmp(c.names[2], "y") == 0);
  }
  if (c.data) {
    CHECK(c.data[0] == 1.0f && c.data[1] == 2.5f && c.data[2] == -3.0f);
    CHECK(c.data[3] == 40.0f && c.data[4] == 5.0f && c.data[5] == 6.0f);
  }
  em_tensor *t = em_csv_tensor(&c);
  CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && em_data(t)[4] == 5.0f);
  em_tensor_release(t);
  em_csv_free(&c);

  /* no header: names c1..cN; ';' separator; last line without a newline; quoted number */
  p = write_text("nohead.csv", "1;2\n3;\"4\"");
  CHECK(em_csv_load(p, ';', 0, &c) == 0);
  CHECK(c.rows == 2 && c.cols == 2);
  if (c.names) CHECK(strcmp(c.names[0], "c1") == 0 && strcmp(c.names[1], "c2") == 0);
  if (c.data) CHECK(c.data[0] == 1.0f && c.data[3] == 4.0f);
  em_csv_free(&c);

  /* tab separated and gzipped */
  const char *tsv = "a\tb\n0.25\t-0.5\n";
  p = write_gz("t.tsv.gz", tsv, strlen(tsv));
  CHECK(em_csv_load(p, '\t', 1, &c) == 0);
  CHECK(c.rows == 1 && c.cols == 2 && c.data && c.data[0] == 0.25f && c.data[1] == -0.5f);
  em_csv_free(&c);

  /* many rows: the row buffer grows past its first allocation */
  char *bigtext = malloc(1000 * 16 + 16);
  size_t k = (size_t)sprintf(bigtext, "i,sq\n");
  for (int i = 0; i < 1000; i++) k += (size_t)sprintf(bigtext + k, "%d,%d\n", i, i * i);
  p = write_text("big.csv", bigtext);
  free(bigtext);
  CHECK(em_csv_load(p, ',', 1, &c) == 0);
  CHECK(c.rows == 1000 && c.data && c.data[2 * 999] == 999.0f && c.data[2 * 999 + 1] == 998001.0f);
  em_csv_free(&c);

  /* broken files: the message names the file, the line and the column */
  csv_fails(write_text("ragged.csv", "a,b,c\n1,2,3\n4,5\n"), ',', 1,
            "ragged.csv:3: 2 fields, expected 3 as on line 1 (ragged row)");
  csv_fails(write_text("long.csv", "a,b\n1,2\n\n1,2,3,4\n"), ',', 1, "long.csv:4: 4 fields, expected 2");
  csv_fails(write_text("word.csv", "age,bmi\n1,2\n3,4\n5,abc\n"), ',', 1,
            "word.csv:4: column 2 (bmi): \"abc\" is not a number");
  csv_fails(write_text("part.csv", "age,bmi\n1,2x\n"), ',', 1, "part.csv:2: column 2 (bmi): \"2x\"");
  csv_fails(write_text("emptyf.csv", "age,bmi\n1,\n"), ',', 1, "emptyf.csv:2: column 2 (bmi) is empty");
  csv_fails(write_text("nan.csv", "a\nnan\n"), ',', 1, "column 1 (a): \"nan\" is not a finite");
  csv_fails(write_text("ovf.csv", "a\n1e39\n"), ',', 1, "\"1e39\" is not a finite float32");
  csv_fails(write_text("empty.csv", ""), ',', 1, "empty.csv: empty file");
  csv_fails(write_text("blank.csv", "\n \r\n\n"), ',', 1, "blank.csv: empty file");
  csv_fails(write_text("headonly.csv", "a,b\n"), ',', 1, "no data rows after the header");
  csv_fails(write_text("dup.csv", "a,b,a\n1,2,3\n"), ',', 1, "duplicate column name \"a\" (columns 1 and 3)");
  csv_fails(write_text("quote.csv", "a,b\n1,\"2\n"), ',', 1, "quote.csv:2: column 2 (b): unterminated quoted field");
  csv_fails(write_text("after.csv", "a,b\n1,\"2\"x\n"), ',', 1, "text after a closing quote");
  csv_fails(write_text("bin.csv", "a\n\x01\x02\n"), ',', 1, "\"??\" is not a number");
  csv_fails(path_of("missing.csv"), ',', 1, "No such file");
  csv_fails(write_text("nohead2.csv", "1,2\n3,x\n"), ',', 0, "nohead2.csv:2: column 2 (c2)");
  em_clear_error();
}

static em_tensor *from(int ndim, const int64_t *shape, const float *v) {
  em_tensor *t = em_tensor_new(ndim, shape);
  memcpy(em_data(t), v, (size_t)em_numel(t) * sizeof(float));
  return t;
}

static void test_gather(void) {
  /* src (4, 2) rows r_i = {10 i, 10 i + 1} */
  float sv[8] = {0, 1, 10, 11, 20, 21, 30, 31};
  em_tensor *src = from(2, (int64_t[]){4, 2}, sv);
  em_tensor *dst = em_tensor_new(2, (int64_t[]){3, 2});
  int64_t idx[3] = {3, 0, 2};
  CHECK(em_gather_rows(dst, src, idx, 0) == 0);
  const float *d = em_data(dst);
  CHECK(d[0] == 30 && d[1] == 31 && d[2] == 0 && d[3] == 1 && d[4] == 20 && d[5] == 21);
  CHECK(em_gather_rows(dst, src, NULL, 1) == 0);
  CHECK(d[0] == 10 && d[5] == 31);
  CHECK(em_gather_rows(dst, src, NULL, 2) == -1);
  CHECK_STR_CONTAINS(em_error(), "3 rows from row 3 are out of range for 4 rows");
  idx[1] = 4;
  CHECK(em_gather_rows(dst, src, idx, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "index 5 out of range for 4 rows");
  em_tensor *wrong = em_tensor_new(2, (int64_t[]){3, 3});
  CHECK(em_gather_rows(wrong, src, NULL, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "[3 x 3] and data [4 x 2] differ");
  em_tensor_release(wrong);
  /* 1-d labels, and a non-contiguous source (the transpose of a (2, 4) tensor) */
  em_tensor *lab = from(1, (int64_t[]){4}, (float[]){1, 2, 3, 4});
  em_tensor *lb = em_tensor_new(1, (int64_t[]){2});
  CHECK(em_gather_rows(lb, lab, (int64_t[]){3, 1}, 0) == 0);
  CHECK(em_data(lb)[0] == 4 && em_data(lb)[1] == 2);
  em_tensor *wide = from(2, (int64_t[]){2, 4}, (float[]){0, 10, 20, 30, 1, 11, 21, 31});
  em_tensor *tr = em_tensor_transpose_raw(wide, 0, 1);   /* (4, 2), equal to src */
  CHECK(em_gather_rows(dst, tr, (int64_t[]){1, 3, 0}, 0) == 0);
  CHECK(d[0] == 10 && d[1] == 11 && d[2] == 30 && d[3] == 31 && d[4] == 0 && d[5] == 1);
  em_tensor_release(tr);
  em_tensor_release(wide);
  em_tensor_release(lab);
  em_tensor_release(lb);
  em_tensor_release(dst);
  em_tensor_release(src);
}

static void test_stats(void) {
  /* columns {1, 2, 3, 6} and {5, 5, 5, 5}: mean 3, population std sqrt(14/4); constant column std 0 */
  em_tensor *x = from(2, (int64_t[]){4, 2}, (float[]){1, 5, 2, 5, 3, 5, 6, 5});
  em_tensor *m, *s;
  CHECK(em_data_stats(x, EM_STATS_MEAN_STD, &m, &s) == 0);
  CHECK(m->ndim == 2 && m->shape[0] == 1 && m->shape[1] == 2);
  CHECK_CLOSE(em_data(m)[0], 3.0, 1e-6);
  CHECK_CLOSE(em_data(m)[1], 5.0, 1e-6);
  CHECK_CLOSE(em_data(s)[0], sqrt(14.0 / 4), 1e-6);
  CHECK_CLOSE(em_data(s)[1], 0.0, 1e-6);
  em_tensor *z = em_data_rescale(x, m, s);
  CHECK(z && z->shape[0] == 4 && z->shape[1] == 2);
  CHECK_CLOSE(em_data(z)[6], 3.0 / sqrt(3.5), 1e-6);   /* (6 - 3) / std */
  CHECK_CLOSE(em_data(z)[7], 0.0, 1e-6);               /* constant column: (5 - 5) / 1 */
  em_tensor_release(z);
  em_tensor_release(m);
  em_tensor_release(s);
  CHECK(em_data_stats(x, EM_STATS_MIN_MAX, &m, &s) == 0);
  CHECK(em_data(m)[0] == 1 && em_data(s)[0] == 6 && em_data(m)[1] == 5 && em_data(s)[1] == 5);
  em_tensor *bad = em_tensor_new(1, (int64_t[]){3});
  CHECK(em_data_rescale(x, bad, bad) == NULL);
  CHECK_STR_CONTAINS(em_error(), "do not match the 2 feature groups");
  em_tensor_release(bad);
  em_tensor_release(m);
  em_tensor_release(s);
  em_tensor_release(x);

  /* images (2, 2, 1, 2): channel 1 holds {0, 1, 2, 3}, channel 2 holds {4, 4, 8, 8} */
  x = from(4, (int64_t[]){2, 2, 1, 2}, (float[]){0, 1, 4, 4, 2, 3, 8, 8});
  CHECK(em_data_stats(x, EM_STATS_MEAN_STD, &m, &s) == 0);
  CHECK(m->ndim == 4 && m->shape[0] == 1 && m->shape[1] == 2 && m->shape[2] == 1 && m->shape[3] == 1);
  CHECK_CLOSE(em_data(m)[0], 1.5, 1e-6);
  CHECK_CLOSE(em_data(m)[1], 6.0, 1e-6);
  CHECK_CLOSE(em_data(s)[0], sqrt(1.25), 1e-6);
  CHECK_CLOSE(em_data(s)[1], 2.0, 1e-6);
  z = em_data_rescale(x, m, s);
  CHECK(z != NULL);
  if (z) CHECK_CLOSE(em_data(z)[6], 1.0, 1e-6);        /* (8 - 6) / 2 */
  em_tensor_release(z);
  em_tensor_release(m);
  em_tensor_release(s);
  em_tensor_release(x);
  x = em_tensor_new(2, (int64_t[]){0, 3});
  CHECK(em_data_stats(x, EM_STATS_MEAN_STD, &m, &s) == -1);
  CHECK_STR_CONTAINS(em_error(), "at least one sample");
  em_tensor_release(x);
}

static void test_synthetic(void) {
  em_rng r;
  em_synthetic a, b;
  em_rng_seed(&r, 7);
  CHECK(em_data_synthetic_regression(&r, 200, 3, 0.0, 0.1, 50.0, &a) == 0);
  em_rng_seed(&r, 7);
  CHECK(em_data_synthetic_regression(&r, 200, 3, 0.0, 0.1, 50.0, &b) == 0);
  CHECK(a.x->shape[0] == 200 && a.x->shape[1] == 3 && a.y->shape[0] == 200 && a.y->shape[1] == 1);
  CHECK(memcmp(em_data(a.y), em_data(b.y), 200 * sizeof(float)) == 0);   /* same seed, same data */
  /* without noise, y = x w + b exactly except on the 20 outliers, which are off by 50..100 */
  int outliers = 0, exact = 0;
  for (int i = 0; i < 200; i++) {
    const float *x = em_data(a.x) + 3 * i, *w = em_data(a.w);
    double fit = a.b + x[0] * w[0] + x[1] * w[1] + x[2] * w[2];
    double err = fabs(em_data(a.y)[i] - fit);
    if (em_data(a.mask)[i] == 1.0f) outliers += err >= 49.99 && err < 100.01;
    else exact += err < 1e-4;
  }
  CHECK(outliers == 20);
  CHECK(exact == 180);
  em_tensor *ts[8] = {a.x, a.y, a.w, a.mask, b.x, b.y, b.w, b.mask};
  for (int i = 0; i < 8; i++) em_tensor_release(ts[i]);
  CHECK(em_data_synthetic_regression(&r, 0, 3, 0, 0, 1, &a) == -1);
  CHECK_STR_CONTAINS(em_error(), "n = 0");
  CHECK(em_data_synthetic_regression(&r, 10, 3, 0, 1.5, 1, &a) == -1);
  CHECK_STR_CONTAINS(em_error(), "outliers is a fraction in [0, 1] (got 1.5)");
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/ember-test-data-XXXXXX");
  if (!mkdtemp(dir)) { perror("mkdtemp"); return 2; }
  test_idx();
  test_csv();
  test_gather();
  test_stats();
  test_synthetic();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return CHECK_DONE();
}
