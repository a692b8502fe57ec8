/* data.c - the IDX and CSV parsers, row gathering for batches, per-feature statistics and the synthetic
   regression generator declared in data.h. Files go through zlib's gz* functions, which read gzip and
   plain files alike, so `train-images-idx3-ubyte.gz` and its unpacked twin load the same way. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "data.h"

/* ---------------------------------------------------------------------------------------------- */
/* reading through zlib                                                                            */

/* what went wrong with a gz stream, in words: a zlib message, or the system's for an I/O error */
static const char *gz_reason(gzFile f) {
  int errnum = Z_OK;
  const char *msg = gzerror(f, &errnum);
  if (errnum == Z_ERRNO) return strerror(errno);
  if (errnum == Z_BUF_ERROR) return "truncated gzip stream (unexpected end of file)";
  return msg && *msg ? msg : "read error";
}

static int gz_failed(gzFile f) {
  int errnum = Z_OK;
  gzerror(f, &errnum);
  return errnum != Z_OK && errnum != Z_STREAM_END;
}

/* reads up to n bytes; returns the count read (short only at the end of the data) or -1 on an error,
   which includes a gzip stream that ends early or is corrupt */
static int64_t gz_read_some(gzFile f, void *buf, int64_t n) {
  int64_t got = 0;
  while (got < n) {
    int64_t want = n - got;
    unsigned chunk = want > (1 << 30) ? (1u << 30) : (unsigned)want;
    int r = gzread(f, (char *)buf + got, chunk);
    if (r < 0) return -1;
    if (r == 0) break;
    got += r;
  }
  if (gz_failed(f)) return -1;
  return got;
}

static gzFile gz_open_read(const char *kind, const char *path) {
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f) {
    em_fail_kind(errno ? EM_EIO : EM_ENOMEM, "%s: %s: %s", kind, path,
                 errno ? strerror(errno) : "cannot open (out of memory)");
    return NULL;
  }
  /* Big reads inflate the 47 MB Fashion-MNIST images measurably faster; a small file gets buffers of
     its own size, since zlib allocates three times this per open (the fuzz targets ran 35 times
     faster without mapping and unmapping 768 KiB for each input of a few bytes). */
  struct stat st;
  unsigned size = 1u << 18;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)size)
    size = st.st_size < 8192 ? 8192 : (unsigned)st.st_size;
  gzbuffer(f, size);
  return f;
}

/* ---------------------------------------------------------------------------------------------- */
/* IDX                                                                                             */

static const char *idx_type_name(int t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "short";
  case 0x0C: return "int";
  case 0x0D: return "float";
  case 0x0E: return "double";
  default: return "unknown";
  }
}

void em_idx_free(em_idx *idx) {
  if (!idx) return;
  free(idx->data);
  memset(idx, 0, sizeof *idx);
}

/* A streaming IDX reader: the header is checked and handed to begin(), which prepares the destination
   (a byte buffer, or directly the float tensor, so that the 60k Fashion-MNIST images are never held
   twice); then the data arrives in chunks at put(). begin() fails with -1 and em_error() set. */
typedef struct idx_sink {
  int (*begin)(struct idx_sink *s, const char *path, const em_idx *head);
  void (*put)(struct idx_sink *s, int64_t at, const unsigned char *p, int64_t n);
  void (*abort)(struct idx_sink *s);
} idx_sink;

static int idx_fail(gzFile f, idx_sink *s, const char *path, const char *what) {
  em_fail_kind(EM_EFORMAT, "idx: %s: %s", path, what);
  if (f) gzclose(f);
  if (s) s->abort(s);
  return -1;
}

/* the most data a file of this size can inflate to: deflate's best ratio is 1032:1 */
static int64_t idx_max_bytes(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return EM_IDX_MAX_ELEMENTS;
  int64_t m = (int64_t)st.st_size * 1040 + 4096;
  return m < EM_IDX_MAX_ELEMENTS ? m : EM_IDX_MAX_ELEMENTS;
}

static int idx_stream(const char *path, idx_sink *sink) {
  char msg[256], shape[EM_SHAPE_BUF];
  unsigned char head[4 + 4 * EM_IDX_MAX_DIMS];
  em_idx h;
  memset(&h, 0, sizeof h);
  int64_t limit = idx_max_bytes(path);
  gzFile f = gz_open_read("idx", path);
  if (!f) return -1;

  int64_t got = gz_read_some(f, head, 4);
  if (got < 0) return idx_fail(f, NULL, path, gz_reason(f));
  if (got < 4) {
    snprintf(msg, sizeof msg, "too short for an IDX header (%lld bytes)", (long long)got);
    return idx_fail(f, NULL, path, msg);
  }
  if (head[0] != 0 || head[1] != 0) {
    snprintf(msg, sizeof msg, "not an IDX file (magic number 0x%02x%02x%02x%02x, expected 0x000008NN)",
             head[0], head[1], head[2], head[3]);
    return idx_fail(f, NULL, path, msg);
  }
  if (head[2] != 0x08) {
    snprintf(msg, sizeof msg, "IDX element type 0x%02x (%s) is not supported, only 0x08 (unsigned byte)",
             head[2], idx_type_name(head[2]));
    return idx_fail(f, NULL, path, msg);
  }
  int ndim = head[3];
  if (ndim < 1 || ndim > EM_IDX_MAX_DIMS) {
    snprintf(msg, sizeof msg, "IDX header declares %d dimensions (expected 1 to %d)", ndim,
             EM_IDX_MAX_DIMS);
    return idx_fail(f, NULL, path, msg);
  }
  got = gz_read_some(f, head + 4, 4 * ndim);
  if (got < 0) return idx_fail(f, NULL, path, gz_reason(f));
  if (got < 4 * ndim) {
    snprintf(msg, sizeof msg, "truncated IDX header (%d of %d dimension bytes)", (int)got, 4 * ndim);
    return idx_fail(f, NULL, path, msg);
  }
  for (int d = 0; d < ndim; d++) {
    const unsigned char *p = head + 4 + 4 * d;
    h.dims[d] = ((int64_t)p[0] << 24) | ((int64_t)p[1] << 16) | ((int64_t)p[2] << 8) | p[3];
  }
  em_shape_str(shape, sizeof shape, ndim, h.dims);
  int64_t count = 1;
  for (int d = 0; d < ndim; d++) {
    int64_t n = h.dims[d];
    if (n == 0) {
      snprintf(msg, sizeof msg, "IDX dimension %d is 0 (an empty data set)", d + 1);
      return idx_fail(f, NULL, path, msg);
    }
    /* compared by division so that the product cannot overflow first */
    if (n > EM_IDX_MAX_ELEMENTS / count) {
      snprintf(msg, sizeof msg, "absurd IDX dimensions %s (more than 2^36 bytes): a corrupt header?",
               shape);
      return idx_fail(f, NULL, path, msg);
    }
    count *= n;
  }
  /* a lying header must not make us allocate gigabytes for a small file */
  if (count > limit) {
    snprintf(msg, sizeof msg, "truncated: the header declares %s = %lld bytes of data, more than the "
             "file can hold", shape, (long long)count);
    return idx_fail(f, NULL, path, msg);
  }
  h.ndim = ndim;
  h.count = count;
  if (sink->begin(sink, path, &h) < 0) {
    gzclose(f);
    return -1;
  }

  enum { CHUNK = 1 << 18 };   /* stays in L2 between inflating and converting */
  unsigned char *buf = malloc(count < CHUNK ? (size_t)count + 64 : CHUNK);   /* + the trailing-data probe */
  if (!buf) return idx_fail(f, sink, path, "out of memory");
  int64_t have = 0;
  while (have < count) {
    int64_t want = count - have < CHUNK ? count - have : CHUNK;
    got = gz_read_some(f, buf, want);
    if (got < 0) { free(buf); return idx_fail(f, sink, path, gz_reason(f)); }
    sink->put(sink, have, buf, got);
    have += got;
    if (got < want) break;
  }
  if (have < count) {
    free(buf);
    snprintf(msg, sizeof msg, "truncated: the header declares %s = %lld bytes of data, the file has %lld",
             shape, (long long)count, (long long)have);
    return idx_fail(f, sink, path, msg);
  }
  got = gz_read_some(f, buf, 64);
  free(buf);
  if (got < 0) return idx_fail(f, sink, path, gz_reason(f));
  if (got > 0) {
    snprintf(msg, sizeof msg, "unexpected data after the %lld bytes the header declares "
             "(a wrong header, or two files joined?)", (long long)count);
    return idx_fail(f, sink, path, msg);
  }
  gzclose(f);
  return 0;
}

/* em_idx_load's sink: the raw bytes */
typedef struct { idx_sink s; em_idx *out; } bytes_sink;

static int bytes_begin(idx_sink *s, const char *path, const em_idx *head) {
  em_idx *out = ((bytes_sink *)s)->out;
  *out = *head;
  out->data = malloc((size_t)head->count);
  if (!out->data) return em_fail_kind(EM_ENOMEM, "idx: %s: out of memory for %lld bytes", path, (long long)head->count);
  return 0;
}
static void bytes_put(idx_sink *s, int64_t at, const unsigned char *p, int64_t n) {
  memcpy(((bytes_sink *)s)->out->data + at, p, (size_t)n);
}
static void bytes_abort(idx_sink *s) { em_idx_free(((bytes_sink *)s)->out); }

int em_idx_load(const char *path, em_idx *out) {
  memset(out, 0, sizeof *out);
  bytes_sink s = {{bytes_begin, bytes_put, bytes_abort}, out};
  return idx_stream(path, &s.s);
}

/* em_idx_read's sink: floats written straight into the tensor */
typedef struct { idx_sink s; em_tensor *t; float lut[256]; } tensor_sink;

static int tensor_begin(idx_sink *s, const char *path, const em_idx *h) {
  tensor_sink *ts = (tensor_sink *)s;
  char shape[EM_SHAPE_BUF];
  if (h->ndim == 3) {
    int64_t sh[4] = {h->dims[0], 1, h->dims[1], h->dims[2]};
    ts->t = em_tensor_new(4, sh);
    for (int k = 0; k < 256; k++) ts->lut[k] = (float)k / 255.0f;
  } else if (h->ndim == 1) {
    ts->t = em_tensor_new(1, h->dims);
    for (int k = 0; k < 256; k++) ts->lut[k] = (float)k + 1.0f;
  } else {
    return em_fail("idx: %s: a %d-d IDX array %s is neither images (3-d) nor labels (1-d)", path,
                   h->ndim, em_shape_str(shape, sizeof shape, h->ndim, h->dims));
  }
  return ts->t ? 0 : -1;
}
static void tensor_put(idx_sink *s, int64_t at, const unsigned char *p, int64_t n) {
  tensor_sink *ts = (tensor_sink *)s;
  float *o = em_data(ts->t) + at;
  for (int64_t i = 0; i < n; i++) o[i] = ts->lut[p[i]];
}
static void tensor_abort(idx_sink *s) {
  tensor_sink *ts = (tensor_sink *)s;
  em_tensor_release(ts->t);
  ts->t = NULL;
}

em_tensor *em_idx_read(const char *path) {
  tensor_sink s = {{tensor_begin, tensor_put, tensor_abort}, NULL, {0}};
  if (idx_stream(path, &s.s) < 0) return NULL;
  return s.t;
}

int em_idx_read_pair(const char *images, const char *labels, em_tensor **x, em_tensor **y) {
  *x = *y = NULL;
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
  em_tensor *tx = em_idx_read(images);
  if (!tx) return -1;
  if (tx->ndim != 4) {
    em_fail("idx: %s holds %s, which is not a set of images (a 3-d IDX file): labels given as images?",
            images, em_tensor_shape_str(a, sizeof a, tx));
    em_tensor_release(tx);
    return -1;
  }
  em_tensor *ty = em_idx_read(labels);
  if (!ty) { em_tensor_release(tx); return -1; }
  if (ty->ndim != 1) {
    em_fail("idx: %s holds %s, which is not a list of labels (a 1-d IDX file): images given as labels?",
            labels, em_tensor_shape_str(b, sizeof b, ty));
  } else if (ty->shape[0] != tx->shape[0]) {
    em_fail("idx: %s holds %lld images but %s holds %lld labels", images, (long long)tx->shape[0],
            labels, (long long)ty->shape[0]);
  } else {
    *x = tx;
    *y = ty;
    return 0;
  }
  em_tensor_release(tx);
  em_tensor_release(ty);
  return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* CSV                                                                                             */

/* a growable byte buffer */
typedef struct { char *p; size_t len, cap; } buf_t;

static int buf_reserve(buf_t *b, size_t need) {
  if (need <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap *= 2;
  char *np = realloc(b->p, ncap);
  if (!np) return -1;
  b->p = np;
  b->cap = ncap;
  return 0;
}

/* the whole (inflated) file, NUL-terminated */
static int read_all(const char *kind, const char *path, buf_t *b) {
  gzFile f = gz_open_read(kind, path);
  if (!f) return -1;
  for (;;) {
    size_t chunk = b->len < 65536 ? 4096 : 65536;   /* small files stay small */
    if (buf_reserve(b, b->len + chunk + 1) < 0) {
      gzclose(f);
      return em_fail_kind(EM_ENOMEM, "%s: %s: out of memory", kind, path);
    }
    int64_t got = gz_read_some(f, b->p + b->len, (int64_t)chunk);
    if (got < 0) {
      em_fail_kind(EM_EIO, "%s: %s: %s", kind, path, gz_reason(f));
      gzclose(f);
      return -1;
    }
    b->len += (size_t)got;
    if (got < (int64_t)chunk) break;
  }
  b->p[b->len] = '\0';
  gzclose(f);
  return 0;
}

/* a field for an error message: at most 40 characters, non-printable bytes as '?' */
static const char *show_field(const char *s, size_t n, char *out, size_t cap) {
  size_t k = 0, lim = cap - 4;
  for (size_t i = 0; i < n && k < lim; i++) {
    unsigned char c = (unsigned char)s[i];
    out[k++] = (c >= 32 && c < 127) ? (char)c : '?';
  }
  if (n > lim) { out[k++] = '.'; out[k++] = '.'; out[k++] = '.'; }
  out[k] = '\0';
  return out;
}

static int is_blank_char(char c, char sep) { return (c == ' ' || c == '\t' || c == '\r') && c != sep; }

/* Cuts the next field off the line [*pp, end), unquoting it into f. Returns 1 and advances *pp past the
   separator (to end + 1 after the last field), 0 at the end of the line, -1 on a malformed quoted
   field (message in *why). */
static int next_field(const char **pp, const char *end, char sep, buf_t *f, const char **why) {
  const char *p = *pp;
  if (p > end) return 0;
  f->len = 0;
  while (p < end && is_blank_char(*p, sep)) p++;
  if (p < end && *p == '"') {
    p++;
    for (;;) {
      if (p >= end) { *why = "unterminated quoted field"; return -1; }
      if (*p == '"') {
        if (p + 1 < end && p[1] == '"') p++;
        else break;
      }
      if (buf_reserve(f, f->len + 2) < 0) { *why = "out of memory"; return -1; }
      f->p[f->len++] = *p++;
    }
    p++;   /* the closing quote */
    while (p < end && is_blank_char(*p, sep)) p++;
    if (p < end && *p != sep) { *why = "text after a closing quote"; return -1; }
  } else {
    const char *s = p;
    while (p < end && *p != sep) p++;
    const char *e = p;
    while (e > s && is_blank_char(e[-1], sep)) e--;
    if (buf_reserve(f, (size_t)(e - s) + 1) < 0) { *why = "out of memory"; return -1; }
    memcpy(f->p, s, (size_t)(e - s));
    f->len = (size_t)(e - s);
  }
  if (buf_reserve(f, f->len + 1) < 0) { *why = "out of memory"; return -1; }
  f->p[f->len] = '\0';
  *pp = p + 1;   /* past the separator, or end + 1 after the last field */
  return 1;
}

void em_csv_free(em_csv *csv) {
  if (!csv) return;
  if (csv->names)
    for (int64_t j = 0; j < csv->cols; j++) free(csv->names[j]);
  free(csv->names);
  free(csv->data);
  memset(csv, 0, sizeof *csv);
}

static int line_is_blank(const char *s, const char *e, char sep) {
  for (; s < e; s++)
    if (!is_blank_char(*s, sep)) return 0;
  return 1;
}

typedef struct { const char *name; int64_t col; } named_col;

static int by_name_then_col(const void *pa, const void *pb) {
  const named_col *a = pa, *b = pb;
  int c = strcmp(a->name, b->name);
  return c ? c : (a->col > b->col) - (a->col < b->col);
}

/* A name must pick one column: duplicates would make target selection ambiguous. Sorted by name, equal
   names sit together, so this is O(n log n) (a header of 100k columns took 12 s pairwise). Reports the
   duplicate that comes first in the header, with the first column of that name. */
static int check_unique(const em_csv *out, const char *path, int64_t lineno) {
  if (out->cols < 2) return 0;
  named_col *v = malloc((size_t)out->cols * sizeof *v);
  if (!v) return em_fail_kind(EM_ENOMEM, "csv: %s: out of memory", path);
  for (int64_t j = 0; j < out->cols; j++) v[j] = (named_col){out->names[j], j};
  qsort(v, (size_t)out->cols, sizeof *v, by_name_then_col);
  int64_t first = -1, second = -1;
  for (int64_t k = 1; k < out->cols; k++)
    if (strcmp(v[k - 1].name, v[k].name) == 0 && (k == 1 || strcmp(v[k - 2].name, v[k].name) != 0) &&
        (second < 0 || v[k].col < second)) {
      first = v[k - 1].col;
      second = v[k].col;
    }
  free(v);
  if (second < 0) return 0;
  char shown[48];
  const char *name = out->names[second];
  return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: duplicate column name \"%s\" (columns %lld and %lld)", path, (long long)lineno,
                 show_field(name, strlen(name), shown, sizeof shown), (long long)(first + 1), (long long)(second + 1));
}

/* the names of the columns from a header line, or c1..cN; NULL and an error on a bad header */
static int csv_names(em_csv *out, const char *path, int64_t lineno, const char *s, const char *e,
                     char sep, int header, buf_t *f) {
  int64_t cols = 0;
  const char *p = s, *why = NULL;
  int r;
  while ((r = next_field(&p, e, sep, f, &why)) == 1) cols++;
  if (r < 0) return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: %s", path, (long long)lineno, why);
  out->names = calloc((size_t)cols, sizeof *out->names);
  if (!out->names) return em_fail_kind(EM_ENOMEM, "csv: %s: out of memory", path);
  out->cols = cols;
  p = s;
  for (int64_t j = 0; j < cols; j++) {
    next_field(&p, e, sep, f, &why);
    char dflt[32];
    snprintf(dflt, sizeof dflt, "c%lld", (long long)(j + 1));
    /* an empty name (or one hiding a NUL byte) gets the default, so every column can be named */
    const char *name = header && f->len > 0 && strlen(f->p) == f->len ? f->p : dflt;
    out->names[j] = strdup(name);
    if (!out->names[j]) return em_fail_kind(EM_ENOMEM, "csv: %s: out of memory", path);
  }
  return header ? check_unique(out, path, lineno) : 0;
}

static int csv_parse(const char *path, const buf_t *text, char sep, int header, em_csv *out,
                     buf_t *f) {
  const char *p = text->p, *end = text->p + text->len;
  /* a UTF-8 byte-order mark (spreadsheets write one) is not part of the first column's name */
  if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  int64_t lineno = 0, head_line = 0, cap = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *s = p;
    p = nl ? nl + 1 : end;
    lineno++;
    if (line_is_blank(s, e, sep)) continue;
    if (!out->names) {
      head_line = lineno;
      if (csv_names(out, path, lineno, s, e, sep, header, f) < 0) return -1;
      if (header) continue;
    }
    if (out->rows == cap) {
      int64_t ncap = cap ? cap * 2 : 16;
      float *nd = realloc(out->data, (size_t)ncap * (size_t)out->cols * sizeof(float));
      if (!nd) return em_fail_kind(EM_ENOMEM, "csv: %s: out of memory", path);
      out->data = nd;
      cap = ncap;
    }
    float *row = out->data + out->rows * out->cols;
    const char *q = s, *why = NULL;
    int64_t j = 0;
    int r;
    while ((r = next_field(&q, e, sep, f, &why)) == 1) {
      if (j >= out->cols) { j++; continue; }   /* counted for the ragged-row message below */
      char shown[48];
      const char *name = out->names[j];
      if (f->len == 0)
        return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: column %lld (%s) is empty", path, (long long)lineno,
                       (long long)(j + 1), name);
      char *stop;
      errno = 0;
      double v = strtod(f->p, &stop);
      if (stop != f->p + f->len || stop == f->p)
        return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: column %lld (%s): \"%s\" is not a number", path,
                       (long long)lineno, (long long)(j + 1), name,
                       show_field(f->p, f->len, shown, sizeof shown));
      if (!isfinite(v) || fabs(v) > FLT_MAX)
        return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: column %lld (%s): \"%s\" is not a finite float32 number", path,
                       (long long)lineno, (long long)(j + 1), name,
                       show_field(f->p, f->len, shown, sizeof shown));
      row[j++] = (float)v;
    }
    if (r < 0)
      return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: column %lld (%s): %s", path, (long long)lineno,
                     (long long)(j + 1), j < out->cols ? out->names[j] : "beyond the last", why);
    if (j != out->cols)
      return em_fail_kind(EM_EFORMAT, "csv: %s:%lld: %lld fields, expected %lld as on line %lld (ragged row)", path,
                     (long long)lineno, (long long)j, (long long)out->cols, (long long)head_line);
    out->rows++;
  }
  if (!out->names) return em_fail_kind(EM_EFORMAT, "csv: %s: empty file", path);
  if (out->rows == 0) return em_fail_kind(EM_EFORMAT, "csv: %s: no data rows after the header", path);
  return 0;
}

int em_csv_load(const char *path, char sep, int header, em_csv *out) {
  memset(out, 0, sizeof *out);
  if (sep == '\n' || sep == '\r' || sep == '"' || sep == '\0')
    return em_fail("csv: %s: separator %d cannot be used", path, (int)(unsigned char)sep);
  buf_t text = {0}, field = {0};
  int rc = read_all("csv", path, &text);
  if (rc == 0) rc = csv_parse(path, &text, sep, header, out, &field);
  free(text.p);
  free(field.p);
  if (rc < 0) em_csv_free(out);
  return rc;
}

em_tensor *em_csv_tensor(const em_csv *csv) {
  int64_t shape[2] = {csv->rows, csv->cols};
  em_tensor *t = em_tensor_new(2, shape);
  if (t) memcpy(em_data(t), csv->data, (size_t)(csv->rows * csv->cols) * sizeof(float));
  return t;
}

/* ---------------------------------------------------------------------------------------------- */
/* batching                                                                                        */

int em_gather_rows(em_tensor *dst, em_tensor *src, const int64_t *idx, int64_t first) {
  char a[EM_SHAPE_BUF], b[EM_SHAPE_BUF];
  if (dst->ndim < 1 || dst->ndim != src->ndim)
    return em_fail_kind(EM_ESHAPE, "gather_rows: batch %s and data %s differ in rank", em_tensor_shape_str(a, sizeof a, dst),
                   em_tensor_shape_str(b, sizeof b, src));
  for (int d = 1; d < dst->ndim; d++)
    if (dst->shape[d] != src->shape[d])
      return em_fail_kind(EM_ESHAPE, "gather_rows: batch %s and data %s differ after the first dimension",
                     em_tensor_shape_str(a, sizeof a, dst), em_tensor_shape_str(b, sizeof b, src));
  if (!em_is_contiguous(dst))
    return em_fail("gather_rows: the batch tensor must be contiguous");
  if (dst->storage == src->storage)
    return em_fail("gather_rows: the batch tensor shares storage with the data");
  int64_t B = dst->shape[0], N = src->shape[0];
  if (B == 0) return 0;
  if (idx == NULL) {
    if (first < 0 || first > N || B > N - first)
      return em_fail("gather_rows: %lld rows from row %s are out of range for %lld rows", (long long)B,
                     em_index1_str(a, sizeof a, first), (long long)N);
  } else {
    for (int64_t k = 0; k < B; k++)
      if (idx[k] < 0 || idx[k] >= N)
        return em_fail("gather_rows: index %s out of range for %lld rows", em_index1_str(a, sizeof a, idx[k]),
                       (long long)N);
  }
  em_tensor *s = em_tensor_contiguous(src);   /* the data sets ember builds already are */
  if (!s) return -1;
  int64_t row = N ? em_numel(s) / N : 0;
  const float *in = em_data(s);
  float *o = em_data(dst);
  if (idx == NULL)
    memcpy(o, in + first * row, (size_t)(B * row) * sizeof(float));
  else if (row == 1)
    for (int64_t k = 0; k < B; k++) o[k] = in[idx[k]];
  else
    for (int64_t k = 0; k < B; k++) memcpy(o + k * row, in + idx[k] * row, (size_t)row * sizeof(float));
  em_tensor_release(s);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* normalisation                                                                                   */

/* x seen as (outer, groups, inner): columns of a 2-d x, channels of (N, C, ...), one group for 1-d */
static void group_layout(const em_tensor *x, int64_t *outer, int64_t *groups, int64_t *inner) {
  *outer = x->shape[0];
  *groups = x->ndim >= 2 ? x->shape[1] : 1;
  *inner = 1;
  for (int d = 2; d < x->ndim; d++) *inner *= x->shape[d];
}

static em_tensor *group_tensor(const em_tensor *x) {
  int64_t shape[EM_MAX_DIMS];
  int nd = x->ndim;
  for (int d = 0; d < nd; d++) shape[d] = 1;
  if (nd >= 2) shape[1] = x->shape[1];
  return em_tensor_new(nd, shape);
}

int em_data_stats(em_tensor *x, em_stats_kind kind, em_tensor **a, em_tensor **b) {
  *a = *b = NULL;
  char s[EM_SHAPE_BUF];
  if (x->ndim < 1 || x->shape[0] == 0)
    return em_fail_kind(EM_ESHAPE, "stats: need at least one sample, got %s", em_tensor_shape_str(s, sizeof s, x));
  int64_t outer, G, inner;
  group_layout(x, &outer, &G, &inner);
  if (G == 0 || inner == 0)
    return em_fail_kind(EM_ESHAPE, "stats: no features in %s", em_tensor_shape_str(s, sizeof s, x));
  em_tensor *c = em_tensor_contiguous(x);
  if (!c) return -1;
  em_tensor *ta = group_tensor(x), *tb = group_tensor(x);
  double *acc = calloc((size_t)G * 2, sizeof(double));
  if (!ta || !tb || !acc) {
    em_tensor_release(c); em_tensor_release(ta); em_tensor_release(tb); free(acc);
    return em_fail_kind(EM_ENOMEM, "stats: out of memory");
  }
  const float *v = em_data(c);
  float *pa = em_data(ta), *pb = em_data(tb);
  double cnt = (double)outer * (double)inner;
  if (kind == EM_STATS_MEAN_STD) {
    /* two passes (mean, then squared deviations) in double: one-pass sum-of-squares loses the
       variance of features with a large mean to cancellation */
    for (int64_t n = 0; n < outer; n++)
      for (int64_t g = 0; g < G; g++) {
        const float *q = v + (n * G + g) * inner;
        double sacc = 0;
        for (int64_t i = 0; i < inner; i++) sacc += q[i];
        acc[g] += sacc;
      }
    for (int64_t g = 0; g < G; g++) acc[g] /= cnt;
    for (int64_t n = 0; n < outer; n++)
      for (int64_t g = 0; g < G; g++) {
        const float *q = v + (n * G + g) * inner;
        double m = acc[g], sacc = 0;
        for (int64_t i = 0; i < inner; i++) sacc += (q[i] - m) * (q[i] - m);
        acc[G + g] += sacc;
      }
    for (int64_t g = 0; g < G; g++) {
      pa[g] = (float)acc[g];
      pb[g] = (float)sqrt(acc[G + g] / cnt);
    }
  } else {
    for (int64_t g = 0; g < G; g++) { pa[g] = INFINITY; pb[g] = -INFINITY; }
    for (int64_t n = 0; n < outer; n++)
      for (int64_t g = 0; g < G; g++) {
        const float *q = v + (n * G + g) * inner;
        float lo = pa[g], hi = pb[g];
        for (int64_t i = 0; i < inner; i++) {
          lo = q[i] < lo ? q[i] : lo;
          hi = q[i] > hi ? q[i] : hi;
        }
        pa[g] = lo; pb[g] = hi;
      }
  }
  free(acc);
  em_tensor_release(c);
  *a = ta;
  *b = tb;
  return 0;
}

em_tensor *em_data_rescale(em_tensor *x, em_tensor *shift, em_tensor *scale) {
  char s[EM_SHAPE_BUF], s1[EM_SHAPE_BUF], s2[EM_SHAPE_BUF];
  if (x->ndim < 1) {
    em_fail_kind(EM_ESHAPE, "rescale: need a tensor of samples, got %s", em_tensor_shape_str(s, sizeof s, x));
    return NULL;
  }
  int64_t outer, G, inner;
  group_layout(x, &outer, &G, &inner);
  if (em_numel(shift) != G || em_numel(scale) != G) {
    em_fail_kind(EM_ESHAPE, "rescale: statistics %s and %s do not match the %lld feature groups of %s",
            em_tensor_shape_str(s1, sizeof s1, shift), em_tensor_shape_str(s2, sizeof s2, scale),
            (long long)G, em_tensor_shape_str(s, sizeof s, x));
    return NULL;
  }
  float *sh = malloc((size_t)(G ? G : 1) * 2 * sizeof(float));
  if (!sh) { em_fail_kind(EM_ENOMEM, "rescale: out of memory"); return NULL; }
  float *inv = sh + G;
  for (int64_t g = 0; g < G; g++) {
    float k = em_get_flat(scale, g);
    sh[g] = em_get_flat(shift, g);
    inv[g] = (k == 0.0f || !isfinite(k)) ? 1.0f : 1.0f / k;
  }
  em_tensor *c = em_tensor_contiguous(x);
  em_tensor *out = c ? em_tensor_new(x->ndim, x->shape) : NULL;
  if (out) {
    const float *v = em_data(c);
    float *o = em_data(out);
    for (int64_t n = 0; n < outer; n++)
      for (int64_t g = 0; g < G; g++) {
        int64_t base = (n * G + g) * inner;
        for (int64_t i = 0; i < inner; i++) o[base + i] = (v[base + i] - sh[g]) * inv[g];
      }
  }
  em_tensor_release(c);
  free(sh);
  return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* synthetic regression                                                                            */

int em_data_synthetic_regression(em_rng *r, int64_t n, int64_t f, double noise, double outliers,
                                 double outlier_scale, em_synthetic *out) {
  memset(out, 0, sizeof *out);
  if (n < 1 || f < 1 || n > ((int64_t)1 << 31) || f > ((int64_t)1 << 20))
    return em_fail("synthetic_regression: n and features must be positive (got n = %lld, features = %lld)",
                   (long long)n, (long long)f);
  if (!(noise >= 0) || !isfinite(noise))
    return em_fail("synthetic_regression: noise must be >= 0 (got %g)", noise);
  if (!(outliers >= 0 && outliers <= 1))
    return em_fail("synthetic_regression: outliers is a fraction in [0, 1] (got %g)", outliers);
  if (!(outlier_scale >= 0) || !isfinite(outlier_scale))
    return em_fail("synthetic_regression: outlier_scale must be >= 0 (got %g)", outlier_scale);
  int64_t xs[2] = {n, f}, ws[2] = {f, 1}, ys[2] = {n, 1};
  out->x = em_tensor_new(2, xs);
  out->w = em_tensor_new(2, ws);
  out->y = em_tensor_new(2, ys);
  out->mask = em_tensor_zeros(1, &n);
  int64_t *perm = malloc((size_t)n * sizeof *perm);
  if (!out->x || !out->w || !out->y || !out->mask || !perm) {
    free(perm);
    em_tensor_release(out->x); em_tensor_release(out->w);
    em_tensor_release(out->y); em_tensor_release(out->mask);
    memset(out, 0, sizeof *out);
    return em_fail_kind(EM_ENOMEM, "synthetic_regression: out of memory");
  }
  /* fresh contiguous tensors: filling them allocates nothing and cannot fail */
  em_tensor_normal_(out->w, r, 0.0f, 1.0f);
  out->b = (float)em_rng_normal(r);
  em_tensor_normal_(out->x, r, 0.0f, 1.0f);
  const float *x = em_data(out->x), *w = em_data(out->w);
  float *y = em_data(out->y), *mask = em_data(out->mask);
  for (int64_t i = 0; i < n; i++) {
    double acc = out->b;
    for (int64_t j = 0; j < f; j++) acc += (double)x[i * f + j] * w[j];
    y[i] = (float)(acc + noise * em_rng_normal(r));
  }
  int64_t k = (int64_t)floor(outliers * (double)n + 0.5);
  if (k > 0) {
    em_rng_permutation(r, n, perm);
    for (int64_t t = 0; t < k; t++) {
      int64_t i = perm[t];
      double sign = (em_rng_u32(r) & 1) ? 1.0 : -1.0;
      y[i] += (float)(sign * outlier_scale * (1.0 + em_rng_uniform(r)));
      mask[i] = 1.0f;
    }
  }
  free(perm);
  return 0;
}
