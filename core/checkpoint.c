/* checkpoint.c - writes and reads the checkpoint format of checkpoint.h: explicit little-endian bytes,
   atomic replacement through a temporary file, and a reader that trusts no length it has not checked. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "atomic.h"
#include "bytes.h"
#include "checkpoint.h"

static const unsigned char ck_magic[4] = {'E', 'M', 'B', 'R'};

const char *em_ck_kind_name(int kind) {
  switch (kind) {
  case EM_CK_TENSOR: return "tensor";
  case EM_CK_NUMBER: return "number";
  case EM_CK_STRING: return "string";
  case EM_CK_BOOLEAN: return "boolean";
  case EM_CK_INTEGER: return "integer";
  case EM_CK_TABLE: return "table";
  default: return "unknown";
  }
}

/* zlib takes uInt lengths: feed big buffers in pieces */
static uLong ck_crc(uLong crc, const unsigned char *p, size_t n) {
  while (n > 0) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = crc32(crc, p, k);
    p += k;
    n -= k;
  }
  return crc;
}

/* ------------------------------------------------------------------------------------------------ */
/* writing */

typedef struct ck_out {
  FILE *f;
  uLong crc;
  int err;          /* errno of the first failed write, 0 while all is well */
} ck_out;

static void out_put(ck_out *o, const void *p, size_t n) {
  if (o->err || n == 0) return;
  o->crc = ck_crc(o->crc, p, n);
  if (fwrite(p, 1, n, o->f) != n) o->err = errno ? errno : EIO;
}

static void out_u8(ck_out *o, unsigned v) { unsigned char b = (unsigned char)v; out_put(o, &b, 1); }
static void out_u32(ck_out *o, uint32_t v) { unsigned char b[4]; em_put_le32(b, v); out_put(o, b, 4); }
static void out_u64(ck_out *o, uint64_t v) { unsigned char b[8]; em_put_le64(b, v); out_put(o, b, 8); }

/* floats go out through a byte buffer so the file is little-endian on any host */
static void out_piece(void *o, const unsigned char *p, size_t n) { out_put(o, p, n); }
static void out_floats(ck_out *o, const float *x, int64_t n) { em_float_bytes_le(x, n, out_piece, o); }

/* numel of a tensor entry, or -1 when its shape is not writable */
static int64_t entry_numel(const em_ck_entry *e) {
  int64_t numel = 1;
  if (e->ndim < 0 || e->ndim > EM_MAX_DIMS) return -1;
  for (int d = 0; d < e->ndim; d++) {
    if (e->shape[d] < 0) return -1;
    if (e->shape[d] != 0 && numel > INT64_MAX / 4 / e->shape[d]) return -1;
    numel *= e->shape[d];
  }
  return numel;
}

/* refuses entries the reader would refuse, before any file is touched */
static int check_entries(const char *path, const em_ck_entry *entries, size_t n) {
  if (n > UINT32_MAX) return em_fail("save: cannot write '%s': %zu entries (at most %u)", path, n, UINT32_MAX);
  for (size_t i = 0; i < n; i++) {
    const em_ck_entry *e = &entries[i];
    if (e->name_len > UINT32_MAX || (e->name_len > 0 && !e->name))
      return em_fail("save: cannot write '%s': entry %zu has an invalid name", path, i + 1);
    switch (e->kind) {
    case EM_CK_TENSOR: {
      int64_t numel = entry_numel(e);
      if (numel < 0) return em_fail("save: cannot write '%s': entry %zu has an invalid shape", path, i + 1);
      if (numel > 0 && !e->data) return em_fail("save: cannot write '%s': entry %zu has no data", path, i + 1);
      break;
    }
    case EM_CK_STRING:
      if (e->len > UINT32_MAX || (e->len > 0 && !e->str))
        return em_fail("save: cannot write '%s': entry %zu has an invalid string", path, i + 1);
      break;
    case EM_CK_NUMBER: case EM_CK_BOOLEAN: case EM_CK_INTEGER: case EM_CK_TABLE:
      break;
    default:
      return em_fail("save: cannot write '%s': entry %zu has unknown kind %d", path, i + 1, e->kind);
    }
  }
  return 0;
}

static void write_entries(ck_out *o, const em_ck_entry *entries, size_t n) {
  out_put(o, ck_magic, 4);
  out_u32(o, EM_CK_VERSION);
  out_u32(o, (uint32_t)n);
  for (size_t i = 0; i < n && !o->err; i++) {
    const em_ck_entry *e = &entries[i];
    out_u32(o, (uint32_t)e->name_len);
    out_put(o, e->name, e->name_len);
    out_u8(o, (unsigned)e->kind);
    switch (e->kind) {
    case EM_CK_TENSOR:
      out_u32(o, (uint32_t)e->ndim);
      for (int d = 0; d < e->ndim; d++) out_u64(o, (uint64_t)e->shape[d]);
      out_floats(o, e->data, entry_numel(e));
      break;
    case EM_CK_NUMBER: {
      uint64_t u;
      memcpy(&u, &e->number, 8);
      out_u64(o, u);
      break;
    }
    case EM_CK_STRING:
      out_u32(o, (uint32_t)e->len);
      out_put(o, e->str, e->len);
      break;
    case EM_CK_BOOLEAN: out_u8(o, e->boolean ? 1 : 0); break;
    case EM_CK_INTEGER: out_u64(o, (uint64_t)e->integer); break;
    default: break;   /* EM_CK_TABLE has no payload */
    }
  }
  if (!o->err) {
    unsigned char b[4];
    em_put_le32(b, (uint32_t)o->crc);
    if (fwrite(b, 1, 4, o->f) != 4) o->err = errno ? errno : EIO;
  }
}

int em_checkpoint_write(const char *path, const em_ck_entry *entries, size_t n) {
  if (check_entries(path, entries, n)) return -1;
  em_atomic a;
  if (em_atomic_open(&a, path, "save")) return -1;
  ck_out o = {a.f, crc32(0L, Z_NULL, 0), 0};
  write_entries(&o, entries, n);
  if (o.err) {
    em_atomic_abort(&a);
    return em_fail_kind(EM_EIO, "save: cannot write '%s': %s", path, strerror(o.err));
  }
  return em_atomic_commit(&a, 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* reading */

typedef struct ck_in {
  FILE *f;                      /* the file, or NULL when reading mem */
  const unsigned char *mem;
  size_t pos;
  uint64_t left;                /* bytes before the trailing CRC not yet read */
  uLong crc;
  const char *path;
  size_t entry;                 /* 1-based entry being read, for messages */
} ck_in;

/* the raw read; a short read means the file shrank under us */
static int in_raw(ck_in *in, void *dst, size_t n) {
  if (n == 0) return 0;
  if (!in->f) {
    memcpy(dst, in->mem + in->pos, n);
    in->pos += n;
    return 0;
  }
  if (fread(dst, 1, n, in->f) == n) return 0;
  if (ferror(in->f)) return em_fail_kind(EM_EIO, "load: cannot read '%s': %s", in->path, strerror(errno ? errno : EIO));
  return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (it shrank while being read)", in->path);
}

/* every length is checked here against what the file still holds before anything is allocated */
static int in_need(ck_in *in, uint64_t n, const char *what) {
  if (n <= in->left) return 0;
  return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (entry %zu: %s needs %llu bytes, %llu left)", in->path,
                 in->entry, what, (unsigned long long)n, (unsigned long long)in->left);
}

static int in_read(ck_in *in, void *dst, size_t n, const char *what) {
  if (in_need(in, n, what) || in_raw(in, dst, n)) return -1;
  in->crc = ck_crc(in->crc, dst, n);
  in->left -= n;
  return 0;
}

static int in_u8(ck_in *in, unsigned *v, const char *what) {
  unsigned char b;
  if (in_read(in, &b, 1, what)) return -1;
  *v = b;
  return 0;
}

static int in_u32(ck_in *in, uint32_t *v, const char *what) {
  unsigned char b[4];
  if (in_read(in, b, 4, what)) return -1;
  *v = em_get_le32(b);
  return 0;
}

static int in_u64(ck_in *in, uint64_t *v, const char *what) {
  unsigned char b[8];
  if (in_read(in, b, 8, what)) return -1;
  *v = em_get_le64(b);
  return 0;
}

/* len bytes plus a '\0' so names and strings can be used as C strings too */
static int in_bytes(ck_in *in, char **out, size_t len, const char *what) {
  if (in_need(in, len, what)) return -1;
  char *p = malloc(len + 1);
  if (!p) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory (%zu bytes)", in->path, len + 1);
  if (in_read(in, p, len, what)) { free(p); return -1; }
  p[len] = '\0';
  *out = p;
  return 0;
}

static int corrupt(ck_in *in, const char *why) {
  return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (entry %zu: %s)", in->path, in->entry, why);
}

static int read_tensor(ck_in *in, em_ck_entry *e) {
  uint32_t ndim;
  if (in_u32(in, &ndim, "tensor rank")) return -1;
  if (ndim > EM_MAX_DIMS) {
    char why[64];
    snprintf(why, sizeof why, "tensor of rank %u, at most %d", ndim, EM_MAX_DIMS);
    return corrupt(in, why);
  }
  if (in_need(in, 8 * (uint64_t)ndim, "tensor shape")) return -1;
  int zero = 0;
  for (uint32_t d = 0; d < ndim; d++) {
    uint64_t v;
    if (in_u64(in, &v, "tensor shape")) return -1;
    if (v > INT64_MAX) return corrupt(in, "negative size in tensor shape");
    e->shape[d] = (int64_t)v;
    if (v == 0) zero = 1;
  }
  e->ndim = (int)ndim;
  /* the product is bounded by what the file holds, so it cannot overflow */
  uint64_t numel = 1, room = in->left / 4;
  if (!zero)
    for (uint32_t d = 0; d < ndim; d++) {
      uint64_t s = (uint64_t)e->shape[d];
      if (numel > room / s) {
        char shape[EM_SHAPE_BUF];
        return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (entry %zu: tensor %s needs more than the %llu bytes left)",
                       in->path, in->entry, em_shape_str(shape, sizeof shape, e->ndim, e->shape),
                       (unsigned long long)in->left);
      }
      numel *= s;
    }
  else if (em_check_shape("load", e->ndim, e->shape)) {   /* empty, but its strides must still fit */
    char shape[EM_SHAPE_BUF], why[EM_SHAPE_BUF + 64];
    snprintf(why, sizeof why, "empty tensor %s is too large: its sizes other than 0 multiply to more than 2^40",
             em_shape_str(shape, sizeof shape, e->ndim, e->shape));
    return corrupt(in, why);
  } else numel = 0;
  size_t bytes = (size_t)numel * 4;
  e->data = malloc(bytes ? bytes : 1);
  if (!e->data) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory (%zu bytes)", in->path, bytes);
  if (in_read(in, e->data, bytes, "tensor data")) return -1;
  /* decode in place: element i's four bytes are exactly where float i goes */
  unsigned char *b = (unsigned char *)e->data;
  for (size_t i = 0; i < (size_t)numel; i++) {
    uint32_t u = em_get_le32(b + 4 * i);
    memcpy(b + 4 * i, &u, 4);
  }
  return 0;
}

static int read_entry(ck_in *in, em_ck_entry *e) {
  uint32_t len;
  unsigned kind;
  if (in_u32(in, &len, "name length") || in_bytes(in, &e->name, len, "name")) return -1;
  e->name_len = len;
  if (in_u8(in, &kind, "kind")) return -1;
  e->kind = (int)kind;
  switch (kind) {
  case EM_CK_TENSOR: return read_tensor(in, e);
  case EM_CK_NUMBER: {
    uint64_t u;
    if (in_u64(in, &u, "number")) return -1;
    memcpy(&e->number, &u, 8);
    return 0;
  }
  case EM_CK_STRING:
    if (in_u32(in, &len, "string length") || in_bytes(in, &e->str, len, "string")) return -1;
    e->len = len;
    return 0;
  case EM_CK_BOOLEAN: {
    unsigned v;
    if (in_u8(in, &v, "boolean")) return -1;
    if (v > 1) return corrupt(in, "boolean that is neither 0 nor 1");
    e->boolean = (int)v;
    return 0;
  }
  case EM_CK_INTEGER: {
    uint64_t u;
    if (in_u64(in, &u, "integer")) return -1;
    e->integer = (int64_t)u;
    return 0;
  }
  case EM_CK_TABLE: return 0;
  default: {
    char why[32];
    snprintf(why, sizeof why, "unknown kind %u", kind);
    return corrupt(in, why);
  }
  }
}

/* the whole format, over a file or a buffer of size bytes */
static int read_all(ck_in *in, uint64_t size, em_ck_entry **entries, size_t *n) {
  unsigned char head[12];
  size_t got = size < 12 ? (size_t)size : 12;
  if (in_raw(in, head, got)) return -1;
  if (memcmp(head, ck_magic, got < 4 ? got : 4) != 0)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is not an ember checkpoint (bad magic)", in->path);
  if (size < 16)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (%llu bytes, a checkpoint has at least 16)", in->path,
                   (unsigned long long)size);
  in->crc = ck_crc(in->crc, head, 12);
  in->left = size - 16;
  uint32_t version = em_get_le32(head + 4), count = em_get_le32(head + 8);
  if (version != EM_CK_VERSION)
    return em_fail_kind(EM_EFORMAT, "load: '%s' has format version %u; this ember reads version %d", in->path, version,
                   EM_CK_VERSION);
  /* every entry takes at least 5 bytes (name length and kind) */
  if (count > in->left / 5)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (%u entries cannot fit in %llu bytes)", in->path, count,
                   (unsigned long long)in->left);

  /* the array grows with the entries actually read, so its size follows the data, not the count */
  size_t cap = count < 64 ? count : 64, len = 0;
  em_ck_entry *es = calloc(cap ? cap : 1, sizeof *es);
  if (!es) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", in->path);
  int rc = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (len == cap) {
      size_t ncap = cap * 2 < count ? cap * 2 : count;
      em_ck_entry *p = realloc(es, ncap * sizeof *es);
      if (!p) { rc = em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", in->path); break; }
      memset(p + cap, 0, (ncap - cap) * sizeof *p);
      es = p;
      cap = ncap;
    }
    in->entry = i + 1;
    len++;
    if ((rc = read_entry(in, &es[len - 1])) != 0) break;
  }
  if (!rc && in->left != 0)
    rc = em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (%llu unexpected bytes after the last entry)", in->path,
                 (unsigned long long)in->left);
  if (!rc) {
    unsigned char b[4];
    rc = in_raw(in, b, 4);
    if (!rc && em_get_le32(b) != (uint32_t)in->crc) rc = em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (CRC mismatch)", in->path);
  }
  if (rc) {
    em_checkpoint_free(es, len);
    return -1;
  }
  *entries = es;
  *n = len;
  return 0;
}

int em_checkpoint_read(const char *path, em_ck_entry **entries, size_t *n) {
  *entries = NULL;
  *n = 0;
  FILE *f;
  struct stat st;
  if (em_open_regular(path, &f, &st, "load")) return -1;
  ck_in in = {f, NULL, 0, 0, crc32(0L, Z_NULL, 0), path, 0};
  int rc = read_all(&in, (uint64_t)st.st_size, entries, n);
  fclose(f);
  return rc;
}

int em_checkpoint_read_mem(const void *buf, size_t size, const char *label, em_ck_entry **entries,
                           size_t *n) {
  *entries = NULL;
  *n = 0;
  ck_in in = {NULL, buf, 0, 0, crc32(0L, Z_NULL, 0), label, 0};
  return read_all(&in, size, entries, n);
}

void em_checkpoint_free(em_ck_entry *entries, size_t n) {
  if (!entries) return;
  for (size_t i = 0; i < n; i++) {
    free(entries[i].name);
    free(entries[i].data);
    free(entries[i].str);
  }
  free(entries);
}
