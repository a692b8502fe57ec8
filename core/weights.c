/* weights.c - what the safetensors and npz formats share: format sniffing, element conversion to float32,
   the writer (core/atomic.c's atomic replacement, counting bytes) and the whole-file reader
   (weights_io.h), and freeing what the readers return. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "weights_io.h"

int em_weights_sniff(const unsigned char *head, size_t n) {
  if (n >= 4 && memcmp(head, "EMBR", 4) == 0) return EM_WT_NONE;   /* ember's own checkpoint */
  /* a zip starts with a local file header, or is an empty archive's end record */
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
    return EM_WT_NPZ;
  /* safetensors has no magic: a header length a file can hold, then the JSON object's '{' */
  if (n >= 9 && head[8] == '{' && em_get_le64(head) >= 2 && em_get_le64(head) < ((uint64_t)1 << 40)) return EM_WT_SAFETENSORS;
  return EM_WT_NONE;
}

void em_wt_free(em_wt *ts, size_t n) {
  if (!ts) return;
  for (size_t i = 0; i < n; i++) {
    free(ts[i].name);
    free(ts[i].data);
  }
  free(ts);
}

void em_wt_meta_free(em_wt_meta *meta, size_t n) {
  if (!meta) return;
  for (size_t i = 0; i < n; i++) {
    free(meta[i].key);
    free(meta[i].value);
  }
  free(meta);
}

em_wt *em_wt_alloc(size_t n, const char *label) {
  em_wt *ts = calloc(n ? n : 1, sizeof *ts);
  if (!ts) em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", label);
  return ts;
}

/* ------------------------------------------------------------------------------------------------ */
/* elements */

int em_wt_type_size(enum em_wt_type t) {
  switch (t) {
  case WT_F64: case WT_I64: case WT_U64: return 8;
  case WT_F32: case WT_I32: case WT_U32: return 4;
  case WT_F16: case WT_BF16: case WT_I16: case WT_U16: return 2;
  default: return 1;
  }
}

int em_wt_name_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

int em_wt_by_name(const void *pa, const void *pb) {
  const em_wt *a = *(const em_wt *const *)pa, *b = *(const em_wt *const *)pb;
  return em_wt_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

int64_t em_wt_numel(int ndim, const int64_t *shape, int64_t elem) {
  /* the sizes other than 0 are bounded too: an empty tensor's strides are their product, so a header
     saying [0, 2^62, 2^62] is as corrupt as one saying [2^62, 2^62] (em_check_shape's rule) */
  int64_t numel = 1, span = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return -1;
    int64_t s = shape[d] ? shape[d] : 1;
    if (span > EM_MAX_NUMEL / s) return -1;
    span *= s;
    numel *= shape[d];                      /* at most span */
  }
  return numel > INT64_MAX / elem ? -1 : numel;
}

/* IEEE 754 binary16 -> float: normals, subnormals, zeros, infinities and NaNs */
static float half_to_float(uint32_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) v = ldexpf((float)mant, -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = ldexpf((float)(mant | 0x400), (int)exp - 25);
  return sign ? -v : v;
}

static uint64_t get_n(const unsigned char *p, int size, int big) {
  uint64_t v = 0;
  for (int i = 0; i < size; i++) v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
  return v;
}

int em_wt_convert(float *out, const unsigned char *src, int64_t n, enum em_wt_type t, int big, const char *label) {
  int size = em_wt_type_size(t);
  for (int64_t i = 0; i < n; i++, src += size) {
    uint64_t u = get_n(src, size, big);
    switch (t) {
    case WT_F32: { uint32_t w = (uint32_t)u; memcpy(&out[i], &w, 4); break; }
    case WT_F64: { double d; memcpy(&d, &u, 8); out[i] = (float)d; break; }
    case WT_F16: out[i] = half_to_float((uint32_t)u); break;
    case WT_BF16: { uint32_t w = (uint32_t)u << 16; memcpy(&out[i], &w, 4); break; }
    case WT_I8: out[i] = (float)(int8_t)(uint8_t)u; break;
    case WT_I16: out[i] = (float)(int16_t)(uint16_t)u; break;
    case WT_I32: out[i] = (float)(int32_t)(uint32_t)u; break;
    case WT_I64: out[i] = (float)(int64_t)u; break;
    case WT_BOOL:
      if (u > 1) return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (a boolean element is %u, not 0 or 1)",
                                     label, (unsigned)u);
      out[i] = (float)u;
      break;
    default: out[i] = (float)u; break;   /* the unsigned types */
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* the atomic writer: core/atomic.c's, counting bytes and keeping the first write error */

int em_wt_out_open(em_wt_out *o, const char *path, const char *fn) {
  o->pos = 0;
  o->err = 0;
  return em_atomic_open(&o->a, path, fn);
}

void em_wt_out_put(em_wt_out *o, const void *p, size_t n) {
  if (o->err || n == 0) return;
  if (fwrite(p, 1, n, o->a.f) != n) o->err = errno ? errno : EIO;
  o->pos += n;
}

static void put_piece(void *ctx, const unsigned char *p, size_t len) { em_wt_out_put(ctx, p, len); }

void em_wt_out_floats(em_wt_out *o, const float *x, int64_t n) { em_float_bytes_le(x, n, put_piece, o); }

void em_wt_out_abort(em_wt_out *o) { em_atomic_abort(&o->a); }

int em_wt_out_close(em_wt_out *o) {
  if (o->err) errno = o->err;   /* the stream's error state is set; commit reports this errno with it */
  return em_atomic_commit(&o->a, 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* reading a whole file */

int em_wt_read_file(const char *path, em_wt_buf *b) {
  b->p = NULL;
  b->size = 0;
  FILE *f;
  struct stat st;
  if (em_open_regular(path, &f, &st, "load")) return -1;
  if ((uint64_t)st.st_size >= SIZE_MAX) {
    fclose(f);
    return em_fail_kind(EM_EIO, "load: cannot read '%s': too large for this machine", path);
  }
  size_t size = (size_t)st.st_size;
  unsigned char *p = malloc(size ? size : 1);
  if (!p) {
    fclose(f);
    return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory (%zu bytes)", path, size);
  }
  /* read, not mapped: a file cut short by another process gives a message here, not a SIGBUS later */
  size_t got = fread(p, 1, size, f);
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  fclose(f);
  if (got != size) {
    free(p);
    if (err) return em_fail_kind(EM_EIO, "load: cannot read '%s': %s", path, strerror(err));
    return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (it shrank while being read)", path);
  }
  b->p = p;
  b->size = size;
  return 0;
}

void em_wt_buf_free(em_wt_buf *b) {
  free((void *)b->p);
  b->p = NULL;
  b->size = 0;
}
