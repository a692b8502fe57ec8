/* npz.c - the npz format (weights.h): a zip archive of NPY arrays, as numpy.savez writes and numpy.load
   reads it. The NPY member format: "\x93NUMPY", version (1.0 written; 1.0, 2.0 and 3.0 read), the header
   length, a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
   spaces and a newline so the data starts on a 64-byte boundary, then the raw data.

   The reader trusts nothing in the archive: the end record and the zip64 records are located and checked
   against the file, the central directory's entries against the directory's size, each local header and
   its data against the archive (no member may overlap another or the directory), a deflated member may
   not claim more than deflate can produce from its bytes, every CRC-32 is checked, and each NPY header
   must describe exactly the bytes that follow it. */
#include <stdlib.h>
#include <string.h>
#include "weights_io.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_END 0x06054b50u
#define SIG_END64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define DEFLATE_MAX_RATIO 1032u    /* deflate cannot expand one byte into more than about 1032 */
#define NPY_ALIGN 64               /* numpy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21       /* numpy's GROWTH_AXIS_MAX_DIGITS: spare room in the header */

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ------------------------------------------------------------------------------------------------ */
/* the NPY header, written */

/* the header numpy writes for a float32 C-order array of this shape (version 1.0); returns its length
   (a multiple of 64), or 0 when it does not fit in buf */
static size_t npy_header(unsigned char *buf, size_t cap, int ndim, const int64_t *shape) {
  char dict[512];
  int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (int d = 0; d < ndim; d++)
    k += snprintf(dict + k, sizeof dict - (size_t)k, d ? ", %lld" : "%lld", (long long)shape[d]);
  k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", ndim == 1 ? "," : "");
  if (ndim > 0) {
    char first[24];
    int digits = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
    for (int i = digits; i < NPY_GROWTH_DIGITS; i++) dict[k++] = ' ';
  }
  size_t hlen = (size_t)k + 1;                              /* with the final newline */
  size_t pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN;          /* magic 6, version 2, length 2 */
  size_t total = 10 + hlen + pad;
  if (total > cap || hlen + pad > 0xffff) return 0;
  memcpy(buf, npy_magic, 6);
  buf[6] = 1;
  buf[7] = 0;
  em_put_le16(buf + 8, (uint32_t)(hlen + pad));
  memcpy(buf + 10, dict, (size_t)k);
  memset(buf + 10 + k, ' ', pad);
  buf[total - 1] = '\n';
  return total;
}

/* ------------------------------------------------------------------------------------------------ */
/* writing */

typedef struct npz_member {
  const em_wt *t;
  unsigned char head[320];
  size_t head_len;
  uint32_t crc;
  uint64_t size, offset;
  int utf8;                     /* a name with non-ASCII bytes sets the zip's UTF-8 flag */
} npz_member;

static void crc_piece(void *ctx, const unsigned char *p, size_t len) {
  uLong *crc = ctx;
  while (len > 0) {
    uInt k = len > (1u << 30) ? (1u << 30) : (uInt)len;
    *crc = crc32(*crc, p, k);
    p += k;
    len -= k;
  }
}

/* the members in name order, with their NPY headers, sizes and CRCs; NULL on error */
static npz_member *plan_members(const em_wt *ts, size_t n) {
  if (n > 0xffff) { em_fail("save_npz: %zu tensors; a zip without zip64 holds at most 65535", n); return NULL; }
  const em_wt **order = malloc((n ? n : 1) * sizeof *order);
  npz_member *ms = calloc(n ? n : 1, sizeof *ms);
  if (!order || !ms) { free(order); free(ms); em_fail_kind(EM_ENOMEM, "save_npz: out of memory"); return NULL; }
  for (size_t i = 0; i < n; i++) order[i] = &ts[i];
  qsort(order, n, sizeof *order, em_wt_by_name);
  for (size_t i = 0; i < n; i++) {
    const em_wt *t = order[i];
    npz_member *m = &ms[i];
    m->t = t;
    int64_t numel = (t->ndim >= 0 && t->ndim <= EM_MAX_DIMS) ? em_wt_numel(t->ndim, t->shape, 4) : -1;
    const char *why = t->name_len == 0 ? "has an empty name" : memchr(t->name, 0, t->name_len) ? "has a NUL byte in its name"
                      : t->name_len > 0xffff - 4 ? "has a name too long for a zip" : numel < 0 ? "has a shape that cannot be written"
                      : (i > 0 && em_wt_by_name(&order[i - 1], &order[i]) == 0) ? "is given twice" : NULL;
    if (!why) {
      m->head_len = npy_header(m->head, sizeof m->head, t->ndim, t->shape);
      m->size = m->head_len + 4 * (uint64_t)numel;
      if (m->head_len == 0) why = "has a shape too long for an NPY header";
      else if (m->size >= 0xffffffffu) why = "is larger than 4 GB, more than a zip without zip64 holds";
    }
    if (why) {
      em_fail("save_npz: tensor '%.200s' %s", t->name_len ? t->name : "", why);
      free(order);
      free(ms);
      return NULL;
    }
    for (size_t j = 0; j < t->name_len; j++) m->utf8 |= (unsigned char)t->name[j] >= 0x80;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc_piece(&crc, m->head, m->head_len);
    em_float_bytes_le(t->data, numel, crc_piece, &crc);
    m->crc = (uint32_t)crc;
  }
  free(order);
  return ms;
}

/* a local header (central = 0) or a central directory entry (central = 1) of member m */
static void put_header(em_wt_out *o, const npz_member *m, int central) {
  unsigned char h[46];
  size_t k = 0;
  em_put_le32(h, central ? SIG_CENTRAL : SIG_LOCAL);
  k = 4;
  if (central) { em_put_le16(h + k, 0x0314); k += 2; }        /* made by: unix, zip 2.0 */
  em_put_le16(h + k, 20);                                      /* version needed: 2.0 */
  em_put_le16(h + k + 2, m->utf8 ? 0x800 : 0);                 /* flags */
  em_put_le16(h + k + 4, 0);                                   /* method: stored */
  em_put_le16(h + k + 6, 0);                                   /* time 00:00:00 */
  em_put_le16(h + k + 8, (0 << 9) | (1 << 5) | 1);             /* date 1980-01-01 */
  em_put_le32(h + k + 10, m->crc);
  em_put_le32(h + k + 14, (uint32_t)m->size);
  em_put_le32(h + k + 18, (uint32_t)m->size);
  em_put_le16(h + k + 22, (uint32_t)(m->t->name_len + 4));
  em_put_le16(h + k + 24, 0);                                  /* extra field length */
  k += 26;
  if (central) {
    em_put_le16(h + k, 0);                                     /* comment length */
    em_put_le16(h + k + 2, 0);                                 /* disk */
    em_put_le16(h + k + 4, 0);                                 /* internal attributes */
    em_put_le32(h + k + 6, 0600u << 16);                       /* rw-------, as numpy's zipfile writes */
    em_put_le32(h + k + 10, (uint32_t)m->offset);
    k += 14;
  }
  em_wt_out_put(o, h, k);
  em_wt_out_put(o, m->t->name, m->t->name_len);
  em_wt_out_put(o, ".npy", 4);
}

int em_npz_write(const char *path, const em_wt *ts, size_t n) {
  npz_member *ms = plan_members(ts, n);
  if (!ms) return -1;
  em_wt_out o;
  if (em_wt_out_open(&o, path, "save_npz")) { free(ms); return -1; }
  for (size_t i = 0; i < n; i++) {
    ms[i].offset = o.pos;
    put_header(&o, &ms[i], 0);
    em_wt_out_put(&o, ms[i].head, ms[i].head_len);
    em_wt_out_floats(&o, ms[i].t->data, em_wt_numel(ms[i].t->ndim, ms[i].t->shape, 4));
  }
  uint64_t cd_off = o.pos;
  for (size_t i = 0; i < n; i++) put_header(&o, &ms[i], 1);
  uint64_t cd_size = o.pos - cd_off;
  free(ms);
  if (o.pos >= 0xffffffffu) {
    em_wt_out_abort(&o);
    return em_fail("save_npz: cannot write '%s': the archive would pass 4 GB, more than a zip without zip64 holds", path);
  }
  unsigned char end[22];
  em_put_le32(end, SIG_END);
  em_put_le16(end + 4, 0);
  em_put_le16(end + 6, 0);
  em_put_le16(end + 8, (uint32_t)n);
  em_put_le16(end + 10, (uint32_t)n);
  em_put_le32(end + 12, (uint32_t)cd_size);
  em_put_le32(end + 16, (uint32_t)cd_off);
  em_put_le16(end + 20, 0);
  em_wt_out_put(&o, end, sizeof end);
  return em_wt_out_close(&o);
}

/* ------------------------------------------------------------------------------------------------ */
/* the NPY header, read */

typedef struct npy_info {
  enum em_wt_type type;
  int big, fortran, ndim;
  int64_t shape[EM_MAX_DIMS];
} npy_info;

typedef struct npy_text { const unsigned char *s; size_t pos, len; } npy_text;

static void py_ws(npy_text *t) {
  while (t->pos < t->len && (t->s[t->pos] == ' ' || t->s[t->pos] == '\t' || t->s[t->pos] == '\n' || t->s[t->pos] == '\r'))
    t->pos++;
}

static int py_char(npy_text *t, char c) {
  py_ws(t);
  if (t->pos < t->len && t->s[t->pos] == (unsigned char)c) { t->pos++; return 1; }
  return 0;
}

/* a quoted Python string without escapes (the header's keys and descr): its bounds in *s, *n */
static int py_string(npy_text *t, const unsigned char **s, size_t *n) {
  py_ws(t);
  if (t->pos >= t->len || (t->s[t->pos] != '\'' && t->s[t->pos] != '"')) return 0;
  unsigned char q = t->s[t->pos++];
  size_t start = t->pos;
  while (t->pos < t->len && t->s[t->pos] != q) {
    if (t->s[t->pos] == '\\' || t->s[t->pos] == '\n') return 0;
    t->pos++;
  }
  if (t->pos >= t->len) return 0;
  *s = t->s + start;
  *n = t->pos++ - start;
  return 1;
}

static int py_word(npy_text *t, const char *w) {
  py_ws(t);
  size_t n = strlen(w);
  if (t->len - t->pos < n || memcmp(t->s + t->pos, w, n) != 0) return 0;
  unsigned char next = t->pos + n < t->len ? t->s[t->pos + n] : ' ';
  if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || (next >= '0' && next <= '9') || next == '_') return 0;
  t->pos += n;
  return 1;
}

/* the shape tuple: (), (5,), (3, 4) or (3, 4,) -- a one-element tuple needs its comma, as in Python */
static const char *py_shape(npy_text *t, npy_info *info) {
  if (!py_char(t, '(')) return "shape must be a tuple";
  info->ndim = 0;
  if (py_char(t, ')')) return NULL;
  for (;;) {
    py_ws(t);
    size_t start = t->pos;
    uint64_t v = 0;
    while (t->pos < t->len && t->s[t->pos] >= '0' && t->s[t->pos] <= '9') {
      if (v > (uint64_t)INT64_MAX / 10) return "a size in shape is too large";
      v = v * 10 + (t->s[t->pos++] - '0');
    }
    if (t->pos == start || v > (uint64_t)INT64_MAX) return "shape must hold non-negative integers";
    if (info->ndim == EM_MAX_DIMS) return "shape has more dimensions than ember's limit of 8";
    info->shape[info->ndim++] = (int64_t)v;
    int comma = py_char(t, ',');
    if (py_char(t, ')')) return (info->ndim == 1 && !comma) ? "a one-element shape needs its comma: (N,)" : NULL;
    if (!comma) return "',' or ')' expected in shape";
  }
}

static const char *py_descr(const unsigned char *s, size_t n, npy_info *info) {
  static const struct { const char *code; enum em_wt_type type; } codes[] = {
    {"f4", WT_F32}, {"f8", WT_F64}, {"f2", WT_F16}, {"i1", WT_I8}, {"i2", WT_I16}, {"i4", WT_I32}, {"i8", WT_I64},
    {"u1", WT_U8}, {"u2", WT_U16}, {"u4", WT_U32}, {"u8", WT_U64}, {"b1", WT_BOOL}};
  if (n >= 1 && (s[0] == 'O' || (n >= 2 && s[1] == 'O'))) return "its dtype is pickled Python objects, which ember never loads";
  if (n != 3 || (s[0] != '<' && s[0] != '>' && s[0] != '|' && s[0] != '=')) return "its dtype is not a number type ember reads";
  unsigned one = 1;
  int host_big = *(unsigned char *)&one == 0;
  info->big = s[0] == '>' || (s[0] == '=' && host_big);
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (memcmp(s + 1, codes[i].code, 2) == 0) { info->type = codes[i].type; return NULL; }
  return "its dtype is not a number type ember reads (f2, f4, f8, i1-i8, u1-u8, b1)";
}

/* the header dict: exactly the keys descr, fortran_order and shape, each once */
static const char *npy_dict(npy_text *t, npy_info *info) {
  int seen[3] = {0, 0, 0};
  if (!py_char(t, '{')) return "the header is not a dict";
  while (!py_char(t, '}')) {
    const unsigned char *k, *v;
    size_t kn, vn;
    if (!py_string(t, &k, &kn)) return "a header key must be a quoted name";
    if (!py_char(t, ':')) return "':' expected after a header key";
    int f = kn == 5 && memcmp(k, "descr", 5) == 0 ? 0 : kn == 13 && memcmp(k, "fortran_order", 13) == 0 ? 1
            : kn == 5 && memcmp(k, "shape", 5) == 0 ? 2 : -1;
    if (f < 0) return "the header has a key other than descr, fortran_order and shape";
    if (seen[f]++) return "a header key is given twice";
    const char *why = NULL;
    if (f == 0) why = py_string(t, &v, &vn) ? py_descr(v, vn, info) : "descr must be a type string such as '<f4'";
    else if (f == 1) {
      if (py_word(t, "True")) info->fortran = 1;
      else if (py_word(t, "False")) info->fortran = 0;
      else why = "fortran_order must be True or False";
    } else why = py_shape(t, info);
    if (why) return why;
    if (!py_char(t, ',')) {
      if (!py_char(t, '}')) return "',' or '}' expected in the header";
      break;
    }
  }
  py_ws(t);
  if (t->pos != t->len) return "text after the header's dict";
  if (!seen[0] || !seen[1] || !seen[2]) return "the header lacks descr, fortran_order or shape";
  return NULL;
}

/* member name (for messages) holds the NPY array at p (n bytes): into out (its name is set by the caller) */
static int npy_read(const unsigned char *p, size_t n, const char *label, const char *member, em_wt *out) {
  const char *why = NULL;
  size_t hstart = 0, hlen = 0;
  if (n < 10 || memcmp(p, npy_magic, 6) != 0) why = "is not an NPY array (bad magic)";
  else if (p[6] < 1 || p[6] > 3 || p[7] != 0) why = "has an NPY version ember does not read (1.0, 2.0 and 3.0 it does)";
  else {
    hstart = p[6] == 1 ? 10 : 12;
    hlen = n >= hstart ? (p[6] == 1 ? em_get_le16(p + 8) : em_get_le32(p + 8)) : 0;
    if (n < hstart || hlen > n - hstart) why = "is truncated (its NPY header is longer than the member)";
  }
  npy_info info;
  memset(&info, 0, sizeof info);
  if (!why) {
    npy_text t = {p + hstart, 0, hlen};
    why = npy_dict(&t, &info);
  }
  int64_t size = em_wt_type_size(info.type);
  int64_t numel = why ? 0 : em_wt_numel(info.ndim, info.shape, size);
  if (!why && numel < 0) {
    char shape[EM_SHAPE_BUF];
    return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (member %.200s: shape %s is too large: its sizes other than 0 "
                        "multiply to more than 2^40)", label, member, em_shape_str(shape, sizeof shape, info.ndim, info.shape));
  }
  if (!why && (uint64_t)numel * (uint64_t)size != n - hstart - hlen) {
    char shape[EM_SHAPE_BUF];
    return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (member %.200s: shape %s needs %llu bytes of data, it holds %llu)",
                        label, member, em_shape_str(shape, sizeof shape, info.ndim, info.shape),
                        (unsigned long long)numel * (unsigned long long)size, (unsigned long long)(n - hstart - hlen));
  }
  if (why) return em_fail_kind(EM_EFORMAT, "load: '%s': member %.200s %s", label, member, why);
  out->ndim = info.ndim;
  memcpy(out->shape, info.shape, sizeof info.shape);
  out->data = malloc(numel ? (size_t)numel * 4 : 1);
  if (!out->data) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory (%lld floats)", label, (long long)numel);
  const unsigned char *src = p + hstart + hlen;
  if (!info.fortran || info.ndim < 2) return em_wt_convert(out->data, src, numel, info.type, info.big, label);
  /* Fortran order: the first index runs fastest in the file; place each element at its C-order offset */
  int64_t idx[EM_MAX_DIMS] = {0}, cstride[EM_MAX_DIMS], off = 0;
  cstride[info.ndim - 1] = 1;
  for (int d = info.ndim - 2; d >= 0; d--) cstride[d] = cstride[d + 1] * info.shape[d + 1];
  for (int64_t k = 0; k < numel; k++) {
    if (em_wt_convert(out->data + off, src + k * size, 1, info.type, info.big, label)) return -1;
    for (int d = 0; d < info.ndim; d++) {
      off += cstride[d];
      if (++idx[d] < info.shape[d]) break;
      off -= cstride[d] * info.shape[d];
      idx[d] = 0;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* the zip container, read */

typedef struct zip_entry {
  const unsigned char *name;
  size_t name_len;
  uint32_t crc;
  int method;
  uint64_t csize, usize, offset, data;   /* data: where the member's bytes start */
} zip_entry;

typedef struct zip_in { const unsigned char *b; size_t size; const char *label; } zip_in;

static int zip_bad(const zip_in *z, const char *why) {
  return em_fail_kind(EM_EFORMAT, "load: '%s' is not a valid npz file (%s)", z->label, why);
}

/* the end of central directory record (and the zip64 one when the archive uses it): entry count, the
   directory's offset and size, and where the directory must end */
static int zip_end(const zip_in *z, uint64_t *count, uint64_t *cd_off, uint64_t *cd_size, uint64_t *cd_limit) {
  if (z->size < 22) return zip_bad(z, "too short for a zip archive");
  size_t pos = z->size - 22, stop = z->size - 22 > 65535 ? z->size - 22 - 65535 : 0;
  for (;; pos--) {
    if (em_get_le32(z->b + pos) == SIG_END && em_get_le16(z->b + pos + 20) <= z->size - pos - 22) break;
    if (pos == stop) return zip_bad(z, "no end of central directory record");
  }
  const unsigned char *e = z->b + pos;
  if (em_get_le16(e + 4) != 0 || em_get_le16(e + 6) != 0 || em_get_le16(e + 8) != em_get_le16(e + 10))
    return zip_bad(z, "a multi-disk archive");
  *count = em_get_le16(e + 10);
  *cd_size = em_get_le32(e + 12);
  *cd_off = em_get_le32(e + 16);
  *cd_limit = pos;
  if (pos >= 20 && em_get_le32(z->b + pos - 20) == SIG_LOCATOR64) {
    const unsigned char *l = z->b + pos - 20;
    uint64_t off64 = em_get_le64(l + 8);
    if (em_get_le32(l + 4) != 0 || em_get_le32(l + 16) > 1) return zip_bad(z, "a multi-disk archive");
    if (off64 > pos - 20 || pos - 20 - off64 < 56 || em_get_le32(z->b + off64) != SIG_END64)
      return zip_bad(z, "a zip64 end record out of place");
    const unsigned char *r = z->b + off64;
    if (em_get_le32(r + 16) != 0 || em_get_le32(r + 20) != 0 || em_get_le64(r + 24) != em_get_le64(r + 32))
      return zip_bad(z, "a multi-disk archive");
    *count = em_get_le64(r + 32);
    *cd_size = em_get_le64(r + 40);
    *cd_off = em_get_le64(r + 48);
    *cd_limit = off64;
  }
  if (*cd_off > *cd_limit || *cd_size > *cd_limit - *cd_off)
    return zip_bad(z, "the central directory lies outside the archive");
  if (*count > *cd_size / 46) return zip_bad(z, "more entries than the central directory can hold");
  return 0;
}

/* the zip64 extended information of a central entry: the 64-bit values of the fields that are 0xffffffff */
static int zip64_extra(const zip_in *z, const unsigned char *x, size_t n, zip_entry *e, int need_u, int need_c, int need_o) {
  while (n >= 4) {
    uint32_t id = em_get_le16(x), len = em_get_le16(x + 2);
    if (len > n - 4) return zip_bad(z, "an extra field overruns its entry");
    if (id == 1) {
      const unsigned char *v = x + 4;
      size_t left = len;
      uint64_t *fields[3] = {need_u ? &e->usize : NULL, need_c ? &e->csize : NULL, need_o ? &e->offset : NULL};
      for (int i = 0; i < 3; i++) {
        if (!fields[i]) continue;
        if (left < 8) return zip_bad(z, "a zip64 extra field too short for its sizes");
        *fields[i] = em_get_le64(v);
        v += 8;
        left -= 8;
      }
      return 0;
    }
    x += 4 + len;
    n -= 4 + len;
  }
  if (need_u || need_c || need_o) return zip_bad(z, "a zip64 size without its extra field");
  return 0;
}

/* the central directory's entries, each checked against its local header */
static int zip_entries(const zip_in *z, uint64_t count, uint64_t cd_off, uint64_t cd_size, zip_entry *es) {
  const unsigned char *c = z->b + cd_off, *cend = c + cd_size;
  for (uint64_t i = 0; i < count; i++) {
    zip_entry *e = &es[i];
    if (cend - c < 46 || em_get_le32(c) != SIG_CENTRAL) return zip_bad(z, "a damaged central directory entry");
    uint32_t flags = em_get_le16(c + 8), nlen = em_get_le16(c + 28), xlen = em_get_le16(c + 30), clen = em_get_le16(c + 32);
    e->method = (int)em_get_le16(c + 10);
    e->crc = em_get_le32(c + 16);
    e->csize = em_get_le32(c + 20);
    e->usize = em_get_le32(c + 24);
    e->offset = em_get_le32(c + 42);
    if ((size_t)(cend - c) - 46 < (size_t)nlen + xlen + clen) return zip_bad(z, "a central directory entry overruns the directory");
    e->name = c + 46;
    e->name_len = nlen;
    if (zip64_extra(z, c + 46 + nlen, xlen, e, e->usize == 0xffffffffu, e->csize == 0xffffffffu, e->offset == 0xffffffffu))
      return -1;
    if (flags & 1) return em_fail_kind(EM_EFORMAT, "load: '%s': member %.*s is encrypted", z->label, (int)(nlen > 200 ? 200 : nlen), e->name);
    if (e->method != 0 && e->method != 8)
      return em_fail_kind(EM_EFORMAT, "load: '%s': member %.*s uses compression method %d (ember reads stored and deflated "
                          "members)", z->label, (int)(nlen > 200 ? 200 : nlen), e->name, e->method);
    c += 46 + nlen + xlen + clen;
    /* the local header: same name, and its data inside the archive before the directory */
    if (e->offset > cd_off || cd_off - e->offset < 30 || em_get_le32(z->b + e->offset) != SIG_LOCAL)
      return zip_bad(z, "a local header out of place");
    const unsigned char *l = z->b + e->offset;
    uint64_t data = e->offset + 30 + em_get_le16(l + 26) + em_get_le16(l + 28);
    if (em_get_le16(l + 26) != nlen || memcmp(l + 30, e->name, nlen) != 0 || data > cd_off)
      return zip_bad(z, "a local header that disagrees with the central directory");
    if (e->csize > cd_off - data) return zip_bad(z, "a member's data runs into the central directory");
    if (em_get_le16(l + 8) != (uint32_t)e->method) return zip_bad(z, "a local header that disagrees with the central directory");
    e->data = data;
    if (e->method == 0 && e->csize != e->usize) return zip_bad(z, "a stored member whose sizes differ");
    if (e->method == 8 && e->usize / DEFLATE_MAX_RATIO > e->csize + 1)
      return zip_bad(z, "a deflated member claims more bytes than its data can inflate to");
  }
  if (c != cend) return zip_bad(z, "bytes left over in the central directory");
  return 0;
}

static int by_offset(const void *pa, const void *pb) {
  const zip_entry *a = *(const zip_entry *const *)pa, *b = *(const zip_entry *const *)pb;
  return (a->offset > b->offset) - (a->offset < b->offset);
}

static int by_entry_name(const void *pa, const void *pb) {
  const zip_entry *a = *(const zip_entry *const *)pa, *b = *(const zip_entry *const *)pb;
  return em_wt_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* no two members share bytes, and no name is given twice */
static int zip_layout(const zip_in *z, zip_entry *es, size_t n) {
  const zip_entry **order = malloc((n ? n : 1) * sizeof *order);
  if (!order) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", z->label);
  for (size_t i = 0; i < n; i++) order[i] = &es[i];
  qsort(order, n, sizeof *order, by_offset);
  int rc = 0;
  for (size_t i = 1; i < n && !rc; i++)
    if (order[i - 1]->data + order[i - 1]->csize > order[i]->offset) rc = zip_bad(z, "two members overlap");
  qsort(order, n, sizeof *order, by_entry_name);
  for (size_t i = 1; i < n && !rc; i++)
    if (by_entry_name(&order[i - 1], &order[i]) == 0)
      rc = em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (member %.*s is listed twice)", z->label,
                        (int)(order[i]->name_len > 200 ? 200 : order[i]->name_len), order[i]->name);
  free(order);
  return rc;
}

/* a member's bytes: the archive's own for a stored one, else inflated into *owned; CRC checked */
static const unsigned char *zip_member(const zip_in *z, const zip_entry *e, unsigned char **owned, const char *member) {
  const unsigned char *src = z->b + e->data;
  *owned = NULL;
  if (e->method == 8) {
    unsigned char *out = malloc(e->usize ? (size_t)e->usize : 1);
    if (!out) { em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", z->label); return NULL; }
    z_stream s;
    memset(&s, 0, sizeof s);
    int ok = inflateInit2(&s, -15) == Z_OK;
    uint64_t in_left = e->csize, out_left = e->usize;
    int rc = Z_OK;
    s.next_in = (Bytef *)src;
    s.next_out = out;
    while (ok && rc == Z_OK) {
      uInt ai = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left, ao = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
      s.avail_in = ai;
      s.avail_out = ao;
      rc = inflate(&s, Z_NO_FLUSH);
      in_left -= ai - s.avail_in;
      out_left -= ao - s.avail_out;
      if (rc == Z_BUF_ERROR && (ai - s.avail_in) + (ao - s.avail_out) > 0) rc = Z_OK;   /* progress: go on */
    }
    if (ok) inflateEnd(&s);
    if (rc != Z_STREAM_END || in_left != 0 || out_left != 0) {
      free(out);
      em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (member %s: its deflated data %s)", z->label, member,
                   rc == Z_STREAM_END ? "does not match its sizes" : "is damaged");
      return NULL;
    }
    *owned = out;
    src = out;
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  crc_piece(&crc, src, (size_t)e->usize);
  if ((uint32_t)crc != e->crc) {
    free(*owned);
    *owned = NULL;
    em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (member %s: CRC mismatch)", z->label, member);
    return NULL;
  }
  return src;
}

int em_npz_read_mem(const void *buf, size_t size, const char *label, em_wt **ts, size_t *n) {
  zip_in z = {buf, size, label};
  uint64_t count = 0, cd_off = 0, cd_size = 0, cd_limit = 0;
  *ts = NULL;
  *n = 0;
  if (zip_end(&z, &count, &cd_off, &cd_size, &cd_limit)) return -1;
  zip_entry *es = calloc(count ? (size_t)count : 1, sizeof *es);
  if (!es) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", label);
  if (zip_entries(&z, count, cd_off, cd_size, es) || zip_layout(&z, es, (size_t)count)) { free(es); return -1; }
  em_wt *out = em_wt_alloc((size_t)count, label);
  if (!out) { free(es); return -1; }
  for (size_t i = 0; i < count; i++) {
    const zip_entry *e = &es[i];
    char member[220];
    snprintf(member, sizeof member, "%.*s", (int)(e->name_len > 200 ? 200 : e->name_len), e->name);
    int rc = -1;
    if (e->name_len <= 4 || memcmp(e->name + e->name_len - 4, ".npy", 4) != 0)
      em_fail_kind(EM_EFORMAT, "load: '%s': member %s is not a .npy array (an npz holds NAME.npy members only)", label, member);
    else if ((out[i].name = malloc(e->name_len - 3)) == NULL)
      em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", label);
    else {
      memcpy(out[i].name, e->name, e->name_len - 4);
      out[i].name[e->name_len - 4] = '\0';
      out[i].name_len = e->name_len - 4;
      unsigned char *owned;
      const unsigned char *bytes = zip_member(&z, e, &owned, member);
      if (bytes) rc = npy_read(bytes, (size_t)e->usize, label, member, &out[i]);
      free(owned);
    }
    if (rc) {
      em_wt_free(out, (size_t)count);
      free(es);
      return -1;
    }
  }
  free(es);
  *ts = out;
  *n = (size_t)count;
  return 0;
}

int em_npz_read(const char *path, em_wt **ts, size_t *n) {
  em_wt_buf b;
  *ts = NULL;
  *n = 0;
  if (em_wt_read_file(path, &b)) return -1;
  int rc = em_npz_read_mem(b.p, b.size, path, ts, n);
  em_wt_buf_free(&b);
  return rc;
}
