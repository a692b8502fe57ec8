/* safetensors.c - the safetensors format (weights.h): a u64 little-endian header length, a JSON header
   naming each tensor's dtype, shape and byte range, then the raw little-endian data. Written as the
   reference implementation (huggingface/safetensors) writes it: tensors sorted by name (all float32, so
   the dtype-alignment sort key ties), "__metadata__" first, compact JSON escaped as serde_json escapes,
   spaces padding the header to a multiple of 8 bytes. The reader accepts any valid file and checks what
   the reference checks: a header of at most 100 MB that is valid UTF-8 JSON, known dtypes, byte ranges
   that follow each other from 0 to the end of the file without gap or overlap, each exactly the size its
   shape and dtype need, computed without overflow. */
#include <stdlib.h>
#include <string.h>
#include "weights_io.h"

#define ST_MAX_HEADER 100000000u   /* the reference reader's limit */
#define ST_MAX_DEPTH 64            /* nesting of JSON values skipped in unknown fields */

/* the dtype names safetensors spells, by element type */
static const char *const st_dtypes[] = {
  [WT_F32] = "F32", [WT_F64] = "F64", [WT_F16] = "F16", [WT_BF16] = "BF16", [WT_I8] = "I8", [WT_I16] = "I16",
  [WT_I32] = "I32", [WT_I64] = "I64", [WT_U8] = "U8", [WT_U16] = "U16", [WT_U32] = "U32", [WT_U64] = "U64",
  [WT_BOOL] = "BOOL"};

/* ------------------------------------------------------------------------------------------------ */
/* a growable byte buffer */

typedef struct st_buf { char *p; size_t len, cap; int oom; } st_buf;

static void buf_add(st_buf *b, const void *s, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void buf_str(st_buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_u64(st_buf *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  buf_str(b, tmp);
}

/* the length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one (overlong forms,
   surrogates and code points past U+10FFFF are invalid, as Rust's from_utf8 says) */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (len == 0 || c > 0xf4 || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (c == 0xe0 && s[1] < 0xa0) return 0;                  /* overlong */
  if (c == 0xed && s[1] >= 0xa0) return 0;                 /* surrogate */
  if (c == 0xf0 && s[1] < 0x90) return 0;                  /* overlong */
  if (c == 0xf4 && s[1] >= 0x90) return 0;                 /* past U+10FFFF */
  return len;
}

static int utf8_valid(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(s + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

/* a JSON string as serde_json writes it: quotes, backslash and control characters escaped, nothing else */
static void buf_json_str(st_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  buf_add(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
    if (esc) buf_str(b, esc);
    else if (c < 0x20) {
      char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
      buf_str(b, u);
    } else buf_add(b, &c, 1);
  }
  buf_add(b, "\"", 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* writing */

static int by_key(const void *pa, const void *pb) {
  return strcmp(((const em_wt_meta *)pa)->key, ((const em_wt_meta *)pb)->key);
}

/* the sorted order of the tensors, after checking what the header needs of them; NULL on error */
static const em_wt **write_order(const em_wt *ts, size_t n) {
  const em_wt **order = malloc((n ? n : 1) * sizeof *order);
  if (!order) { em_fail_kind(EM_ENOMEM, "save_safetensors: out of memory"); return NULL; }
  for (size_t i = 0; i < n; i++) {
    const em_wt *t = &ts[i];
    order[i] = t;
    const char *why = t->name_len == 0 ? "an empty name"
                      : !utf8_valid((const unsigned char *)t->name, t->name_len) ? "a name that is not valid UTF-8"
                      : (t->name_len == 12 && memcmp(t->name, "__metadata__", 12) == 0) ? "the reserved name __metadata__"
                      : (t->ndim < 0 || t->ndim > EM_MAX_DIMS || em_wt_numel(t->ndim, t->shape, 4) < 0)
                        ? "a shape that cannot be written" : NULL;
    if (why) {
      free(order);
      em_fail("save_safetensors: tensor %zu ('%.200s') has %s", i + 1, t->name_len ? t->name : "", why);
      return NULL;
    }
  }
  qsort(order, n, sizeof *order, em_wt_by_name);
  for (size_t i = 1; i < n; i++)
    if (em_wt_by_name(&order[i - 1], &order[i]) == 0) {
      em_fail("save_safetensors: the name '%.200s' is given twice", order[i]->name);
      free(order);
      return NULL;
    }
  return order;
}

static int write_header(st_buf *h, const em_wt *const *order, size_t n, const em_wt_meta *meta,
                        size_t nmeta) {
  buf_add(h, "{", 1);
  if (nmeta > 0) {
    em_wt_meta *m = malloc(nmeta * sizeof *m);
    if (!m) return em_fail_kind(EM_ENOMEM, "save_safetensors: out of memory");
    memcpy(m, meta, nmeta * sizeof *m);
    qsort(m, nmeta, sizeof *m, by_key);
    buf_str(h, "\"__metadata__\":{");
    for (size_t i = 0; i < nmeta; i++) {
      const char *bad = !utf8_valid((const unsigned char *)m[i].key, strlen(m[i].key)) ? m[i].key
                        : !utf8_valid((const unsigned char *)m[i].value, strlen(m[i].value)) ? m[i].value : NULL;
      if (bad || (i > 0 && strcmp(m[i - 1].key, m[i].key) == 0)) {
        /* the message is formatted before m goes: m[i].key is read from it */
        const int rc = bad ? em_fail("save_safetensors: metadata text is not valid UTF-8")
                           : em_fail("save_safetensors: metadata key '%.200s' is given twice", m[i].key);
        free(m);
        return rc;
      }
      if (i) buf_add(h, ",", 1);
      buf_json_str(h, m[i].key, strlen(m[i].key));
      buf_add(h, ":", 1);
      buf_json_str(h, m[i].value, strlen(m[i].value));
    }
    buf_add(h, "}", 1);
    free(m);
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < n; k++) {
    const em_wt *t = order[k];
    if (k || nmeta) buf_add(h, ",", 1);
    buf_json_str(h, t->name, t->name_len);
    buf_str(h, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      if (d) buf_add(h, ",", 1);
      buf_u64(h, (uint64_t)t->shape[d]);
    }
    uint64_t bytes = 4 * (uint64_t)em_wt_numel(t->ndim, t->shape, 4);
    buf_str(h, "],\"data_offsets\":[");
    buf_u64(h, offset);
    buf_add(h, ",", 1);
    buf_u64(h, offset + bytes);
    buf_str(h, "]}");
    offset += bytes;
  }
  buf_add(h, "}", 1);
  while (h->len % 8) buf_add(h, " ", 1);
  if (h->oom) return em_fail_kind(EM_ENOMEM, "save_safetensors: out of memory");
  return 0;
}

int em_safetensors_write(const char *path, const em_wt *ts, size_t n, const em_wt_meta *meta, size_t nmeta) {
  const em_wt **order = write_order(ts, n);
  if (!order) return -1;
  st_buf h = {0};
  if (write_header(&h, order, n, meta, nmeta)) {
    free(h.p);
    free(order);
    return -1;
  }
  em_wt_out o;
  if (em_wt_out_open(&o, path, "save_safetensors")) {
    free(h.p);
    free(order);
    return -1;
  }
  unsigned char len[8];
  em_put_le64(len, h.len);
  em_wt_out_put(&o, len, 8);
  em_wt_out_put(&o, h.p, h.len);
  for (size_t k = 0; k < n; k++) {
    const em_wt *t = order[k];
    em_wt_out_floats(&o, t->data, em_wt_numel(t->ndim, t->shape, 4));
  }
  free(h.p);
  free(order);
  return em_wt_out_close(&o);
}

/* ------------------------------------------------------------------------------------------------ */
/* the JSON header, parsed into tensor infos and metadata */

typedef struct st_info {
  char *name;
  size_t name_len;
  int type, ndim;
  int64_t shape[EM_MAX_DIMS];
  uint64_t begin, end;
} st_info;

typedef struct st_parse {
  const unsigned char *s;
  size_t pos, len;
  const char *label;
  st_info *infos;
  size_t n, cap;
  em_wt_meta *meta;
  size_t nmeta, capmeta;
  int has_meta;
} st_parse;

/* every refusal of the header: what is wrong and where */
static int bad(st_parse *p, const char *what) {
  return em_fail_kind(EM_EFORMAT, "load: '%s' is not a valid safetensors file (header, byte %zu: %s)", p->label,
                      p->pos + 8, what);
}

static void ws(st_parse *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
    p->pos++;
}

static int expect(st_parse *p, char c, const char *what) {
  ws(p);
  if (p->pos >= p->len || p->s[p->pos] != (unsigned char)c) return bad(p, what);
  p->pos++;
  return 0;
}

static int peek(st_parse *p) {
  ws(p);
  return p->pos < p->len ? p->s[p->pos] : -1;
}

static int hex4(st_parse *p, uint32_t *v) {
  if (p->len - p->pos < 4) return bad(p, "a \\u escape needs four hex digits");
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p->s[p->pos++], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return bad(p, "a \\u escape needs four hex digits");
    *v = *v << 4 | (uint32_t)d;
  }
  return 0;
}

static void put_utf8(char *out, size_t *k, uint32_t cp) {
  if (cp < 0x80) out[(*k)++] = (char)cp;
  else if (cp < 0x800) { out[(*k)++] = (char)(0xc0 | cp >> 6); out[(*k)++] = (char)(0x80 | (cp & 63)); }
  else if (cp < 0x10000) {
    out[(*k)++] = (char)(0xe0 | cp >> 12); out[(*k)++] = (char)(0x80 | (cp >> 6 & 63));
    out[(*k)++] = (char)(0x80 | (cp & 63));
  } else {
    out[(*k)++] = (char)(0xf0 | cp >> 18); out[(*k)++] = (char)(0x80 | (cp >> 12 & 63));
    out[(*k)++] = (char)(0x80 | (cp >> 6 & 63)); out[(*k)++] = (char)(0x80 | (cp & 63));
  }
}

/* a JSON string, unescaped into a new buffer (its bytes never outgrow the escaped text); out may be NULL
   to skip it */
static int string(st_parse *p, char **out, size_t *outlen) {
  if (expect(p, '"', "a string expected")) return -1;
  size_t end = p->pos;
  while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  char *buf = out ? malloc((end < p->len ? end : p->len) - p->pos + 1) : NULL;
  if (out && !buf) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", p->label);
  size_t k = 0;
  for (;;) {
    if (p->pos >= p->len) { free(buf); return bad(p, "a string is not closed"); }
    unsigned char c = p->s[p->pos++];
    if (c == '"') break;
    if (c < 0x20) { free(buf); p->pos--; return bad(p, "a control character inside a string"); }
    if (c != '\\') { if (buf) buf[k++] = (char)c; continue; }
    if (p->pos >= p->len) { free(buf); return bad(p, "a string is not closed"); }
    c = p->s[p->pos++];
    const char *plain = strchr("\"\\/bfnrt", c);
    if (plain && c) {
      static const char to[] = "\"\\/\b\f\n\r\t";
      if (buf) buf[k++] = to[plain - "\"\\/bfnrt"];
      continue;
    }
    if (c != 'u') { free(buf); p->pos--; return bad(p, "an unknown escape in a string"); }
    uint32_t cp;
    if (hex4(p, &cp)) { free(buf); return -1; }
    if (cp >= 0xdc00 && cp < 0xe000) { free(buf); return bad(p, "a lone low surrogate in a string"); }
    if (cp >= 0xd800 && cp < 0xdc00) {
      uint32_t lo;
      if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
        free(buf);
        return bad(p, "a high surrogate without its low half");
      }
      p->pos += 2;
      if (hex4(p, &lo)) { free(buf); return -1; }
      if (lo < 0xdc00 || lo >= 0xe000) { free(buf); return bad(p, "a high surrogate without its low half"); }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (buf) put_utf8(buf, &k, cp);
  }
  if (buf) {
    buf[k] = '\0';
    *out = buf;
    *outlen = k;
  }
  return 0;
}

/* a non-negative JSON integer (shape sizes and offsets) */
static int integer(st_parse *p, uint64_t *v, const char *what) {
  ws(p);
  if (p->pos < p->len && p->s[p->pos] == '-') return bad(p, what);
  size_t start = p->pos;
  *v = 0;
  while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
    uint64_t d = p->s[p->pos] - '0';
    if (*v > (UINT64_MAX - d) / 10) return bad(p, "an integer too large");
    *v = *v * 10 + d;
    p->pos++;
  }
  if (p->pos == start) return bad(p, what);
  if (p->s[start] == '0' && p->pos - start > 1) { p->pos = start; return bad(p, "an integer with a leading zero"); }
  if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
    return bad(p, what);
  return 0;
}

static int skip_value(st_parse *p, int depth);

/* any JSON value, checked and ignored (an unknown field of a tensor's entry) */
static int skip_value(st_parse *p, int depth) {
  if (depth > ST_MAX_DEPTH) return bad(p, "values nested too deep");
  int c = peek(p);
  if (c == '"') return string(p, NULL, NULL);
  if (c == '{' || c == '[') {
    int close = c == '{' ? '}' : ']';
    p->pos++;
    if (peek(p) == close) { p->pos++; return 0; }
    for (;;) {
      if (close == '}' && (string(p, NULL, NULL) || expect(p, ':', "':' expected"))) return -1;
      if (skip_value(p, depth + 1)) return -1;
      c = peek(p);
      p->pos++;
      if (c == close) return 0;
      if (c != ',') { p->pos--; return bad(p, "',' or the end of a list or object expected"); }
    }
  }
  for (const char *const *w = (const char *const[]){"true", "false", "null", NULL}; *w; w++) {
    size_t n = strlen(*w);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, *w, n) == 0) { p->pos += n; return 0; }
  }
  /* a number: -?int frac? exp? */
  size_t start = p->pos;
  if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
  size_t digits = p->pos;
  while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  if (p->pos == digits) { p->pos = start; return bad(p, "a JSON value expected"); }
  if (p->pos < p->len && p->s[p->pos] == '.') {
    size_t f = ++p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (p->pos == f) return bad(p, "a digit expected after '.'");
  }
  if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    size_t e = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (p->pos == e) return bad(p, "a digit expected in an exponent");
  }
  return 0;
}

/* the "__metadata__" object: string keys to string values, or null */
static int parse_meta(st_parse *p) {
  if (p->has_meta) return bad(p, "__metadata__ is given twice");
  p->has_meta = 1;
  ws(p);
  if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) { p->pos += 4; return 0; }
  if (expect(p, '{', "__metadata__ must be an object of strings")) return -1;
  if (peek(p) == '}') { p->pos++; return 0; }
  for (;;) {
    if (p->nmeta == p->capmeta) {
      size_t cap = p->capmeta ? 2 * p->capmeta : 8;
      em_wt_meta *m = realloc(p->meta, cap * sizeof *m);
      if (!m) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", p->label);
      p->meta = m;
      p->capmeta = cap;
    }
    em_wt_meta *m = &p->meta[p->nmeta];
    size_t klen, vlen;
    m->key = m->value = NULL;
    if (string(p, &m->key, &klen)) return -1;
    p->nmeta++;
    if (expect(p, ':', "':' expected")) return -1;
    if (peek(p) != '"') return bad(p, "a metadata value must be a string");
    if (string(p, &m->value, &vlen)) return -1;
    if (strlen(m->key) != klen || strlen(m->value) != vlen) return bad(p, "metadata text holds a NUL character");
    for (size_t i = 0; i + 1 < p->nmeta; i++)
      if (strcmp(p->meta[i].key, m->key) == 0) return bad(p, "a metadata key is given twice");
    int c = peek(p);
    p->pos++;
    if (c == '}') return 0;
    if (c != ',') { p->pos--; return bad(p, "',' or '}' expected"); }
  }
}

static int parse_dtype(st_parse *p, st_info *t) {
  char *s;
  size_t n;
  size_t at = p->pos;
  if (string(p, &s, &n)) return -1;
  t->type = -1;
  for (int i = 0; i < (int)(sizeof st_dtypes / sizeof st_dtypes[0]); i++)
    if (strcmp(s, st_dtypes[i]) == 0 && strlen(s) == n) t->type = i;
  if (t->type < 0) {
    p->pos = at;
    em_fail_kind(EM_EFORMAT, "load: '%s': tensor '%.200s' has dtype '%.40s', which ember cannot read (it reads "
                 "F32, F64, F16, BF16, I8-I64, U8-U64 and BOOL)", p->label, t->name, s);
    free(s);
    return -1;
  }
  free(s);
  return 0;
}

static int parse_shape(st_parse *p, st_info *t) {
  if (expect(p, '[', "shape must be a list of sizes")) return -1;
  t->ndim = 0;
  if (peek(p) == ']') { p->pos++; return 0; }
  for (;;) {
    uint64_t v;
    if (integer(p, &v, "a shape size must be a non-negative integer")) return -1;
    if (t->ndim == EM_MAX_DIMS)
      return em_fail_kind(EM_EFORMAT, "load: '%s': tensor '%.200s' has more than %d dimensions, ember's limit",
                          p->label, t->name, EM_MAX_DIMS);
    if (v > INT64_MAX) return bad(p, "a shape size too large");
    t->shape[t->ndim++] = (int64_t)v;
    int c = peek(p);
    p->pos++;
    if (c == ']') return 0;
    if (c != ',') { p->pos--; return bad(p, "',' or ']' expected in a shape"); }
  }
}

/* one tensor's entry: {"dtype": ..., "shape": [...], "data_offsets": [begin, end]}, other fields ignored */
static int parse_info(st_parse *p, st_info *t) {
  int seen[3] = {0, 0, 0};
  if (expect(p, '{', "a tensor's entry must be an object")) return -1;
  if (peek(p) != '}') {
    for (;;) {
      char *k;
      size_t n;
      if (string(p, &k, &n)) return -1;
      if (expect(p, ':', "':' expected")) { free(k); return -1; }
      int f = strcmp(k, "dtype") == 0 ? 0 : strcmp(k, "shape") == 0 ? 1 : strcmp(k, "data_offsets") == 0 ? 2 : -1;
      free(k);
      if (f >= 0 && seen[f]) return bad(p, "a field of a tensor's entry is given twice");
      if (f >= 0) seen[f] = 1;
      int rc = f == 0 ? parse_dtype(p, t) : f == 1 ? parse_shape(p, t)
               : f == 2 ? (expect(p, '[', "data_offsets must be [begin, end]") || integer(p, &t->begin, "an offset must be a non-negative integer")
                           || expect(p, ',', "data_offsets must be [begin, end]") || integer(p, &t->end, "an offset must be a non-negative integer")
                           || expect(p, ']', "data_offsets must be [begin, end]"))
               : skip_value(p, 0);
      if (rc) return -1;
      int c = peek(p);
      p->pos++;
      if (c == '}') break;
      if (c != ',') { p->pos--; return bad(p, "',' or '}' expected"); }
    }
  } else p->pos++;
  if (!seen[0] || !seen[1] || !seen[2])
    return em_fail_kind(EM_EFORMAT, "load: '%s': tensor '%.200s' lacks %s", p->label, t->name,
                        !seen[0] ? "its dtype" : !seen[1] ? "its shape" : "its data_offsets");
  return 0;
}

static int parse_header(st_parse *p) {
  if (expect(p, '{', "the header must be a JSON object")) return -1;
  if (peek(p) == '}') p->pos++;
  else for (;;) {
    char *name;
    size_t n;
    if (string(p, &name, &n)) return -1;
    if (expect(p, ':', "':' expected")) { free(name); return -1; }
    if (n == 12 && memcmp(name, "__metadata__", 12) == 0) {
      free(name);
      if (parse_meta(p)) return -1;
    } else {
      if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        st_info *in = realloc(p->infos, cap * sizeof *in);
        if (!in) { free(name); return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", p->label); }
        p->infos = in;
        p->cap = cap;
      }
      st_info *t = &p->infos[p->n++];
      memset(t, 0, sizeof *t);
      t->name = name;
      t->name_len = n;
      if (parse_info(p, t)) return -1;
    }
    int c = peek(p);
    p->pos++;
    if (c == '}') break;
    if (c != ',') { p->pos--; return bad(p, "',' or '}' expected"); }
  }
  ws(p);
  if (p->pos != p->len) return bad(p, "text after the header's object");
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* reading */

static int by_offsets(const void *pa, const void *pb) {
  const st_info *a = pa, *b = pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return (a->end > b->end) - (a->end < b->end);
}

static int by_info_name(const void *pa, const void *pb) {
  const st_info *a = *(const st_info *const *)pa, *b = *(const st_info *const *)pb;
  return em_wt_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* distinct names, and byte ranges that tile the data buffer exactly (the reference's validate) */
static int check_infos(st_parse *p, uint64_t data_size) {
  const st_info **names = malloc((p->n ? p->n : 1) * sizeof *names);
  if (!names) return em_fail_kind(EM_ENOMEM, "load: '%s': out of memory", p->label);
  for (size_t i = 0; i < p->n; i++) names[i] = &p->infos[i];
  qsort(names, p->n, sizeof *names, by_info_name);
  for (size_t i = 1; i < p->n; i++)
    if (by_info_name(&names[i - 1], &names[i]) == 0) {
      em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (tensor '%.200s' is listed twice)", p->label, names[i]->name);
      free(names);
      return -1;
    }
  free(names);
  if (p->n) qsort(p->infos, p->n, sizeof *p->infos, by_offsets);
  uint64_t at = 0;
  for (size_t i = 0; i < p->n; i++) {
    st_info *t = &p->infos[i];
    int64_t size = em_wt_type_size(t->type);
    int64_t numel = em_wt_numel(t->ndim, t->shape, size);
    if (numel < 0) {
      char shape[EM_SHAPE_BUF];
      return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (tensor '%.200s': shape %s is too large: its sizes other "
                          "than 0 multiply to more than 2^40)", p->label, t->name,
                          em_shape_str(shape, sizeof shape, t->ndim, t->shape));
    }
    if (t->begin != at || t->end < t->begin)
      return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (tensor '%.200s': data_offsets [%llu, %llu] %s)", p->label,
                          t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                          t->end < t->begin ? "end before they begin" : t->begin < at ? "overlap another tensor's"
                          : "leave a gap after the previous tensor");
    if (t->end - t->begin != (uint64_t)numel * (uint64_t)size) {
      char shape[EM_SHAPE_BUF];
      return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (tensor '%.200s': %s of %s needs %llu bytes, data_offsets "
                          "give %llu)", p->label, t->name, em_shape_str(shape, sizeof shape, t->ndim, t->shape),
                          st_dtypes[t->type], (unsigned long long)numel * (unsigned long long)size,
                          (unsigned long long)(t->end - t->begin));
    }
    at = t->end;
  }
  if (at != data_size)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is corrupt (the tensors cover %llu bytes of data, the file holds %llu)",
                        p->label, (unsigned long long)at, (unsigned long long)data_size);
  return 0;
}

static void parse_free(st_parse *p) {
  for (size_t i = 0; i < p->n; i++) free(p->infos[i].name);
  free(p->infos);
  em_wt_meta_free(p->meta, p->nmeta);
}

int em_safetensors_read_mem(const void *buf, size_t size, const char *label, em_wt **ts, size_t *n,
                            em_wt_meta **meta, size_t *nmeta) {
  const unsigned char *b = buf;
  *ts = NULL;
  *n = 0;
  if (meta) *meta = NULL;
  if (nmeta) *nmeta = 0;
  if (size < 8)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (%zu bytes; a safetensors file has at least 8)", label, size);
  uint64_t hlen = em_get_le64(b);
  if (hlen > ST_MAX_HEADER)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is not a valid safetensors file (a header of %llu bytes; at most %u)",
                        label, (unsigned long long)hlen, ST_MAX_HEADER);
  if (hlen > size - 8)
    return em_fail_kind(EM_EFORMAT, "load: '%s' is truncated (its header needs %llu bytes, %zu left)", label,
                        (unsigned long long)hlen, size - 8);
  if (!utf8_valid(b + 8, (size_t)hlen))
    return em_fail_kind(EM_EFORMAT, "load: '%s' is not a valid safetensors file (its header is not UTF-8 text)", label);
  st_parse p = {b + 8, 0, (size_t)hlen, label, NULL, 0, 0, NULL, 0, 0, 0};
  const unsigned char *data = b + 8 + hlen;
  if (parse_header(&p) || check_infos(&p, size - 8 - hlen)) {
    parse_free(&p);
    return -1;
  }
  em_wt *out = em_wt_alloc(p.n, label);
  if (!out) { parse_free(&p); return -1; }
  for (size_t i = 0; i < p.n; i++) {
    st_info *t = &p.infos[i];
    int64_t numel = em_wt_numel(t->ndim, t->shape, 4);
    out[i].name = t->name;
    out[i].name_len = t->name_len;
    t->name = NULL;
    out[i].ndim = t->ndim;
    memcpy(out[i].shape, t->shape, sizeof t->shape);
    out[i].data = malloc(numel ? (size_t)numel * 4 : 1);
    if (!out[i].data) {
      em_fail_kind(EM_ENOMEM, "load: '%s': out of memory (%lld floats)", label, (long long)numel);
      em_wt_free(out, p.n);
      parse_free(&p);
      return -1;
    }
    if (em_wt_convert(out[i].data, data + t->begin, numel, t->type, 0, label)) {
      em_wt_free(out, p.n);
      parse_free(&p);
      return -1;
    }
  }
  *ts = out;
  *n = p.n;
  if (meta && nmeta) {
    *meta = p.meta;
    *nmeta = p.nmeta;
    p.meta = NULL;
    p.nmeta = 0;
  }
  parse_free(&p);
  return 0;
}

int em_safetensors_read(const char *path, em_wt **ts, size_t *n, em_wt_meta **meta, size_t *nmeta) {
  em_wt_buf b;
  *ts = NULL;
  *n = 0;
  if (em_wt_read_file(path, &b)) return -1;
  int rc = em_safetensors_read_mem(b.p, b.size, path, ts, n, meta, nmeta);
  em_wt_buf_free(&b);
  return rc;
}
