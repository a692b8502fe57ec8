/* test_weights.c - the safetensors and npz formats: round trips, the exact bytes of the reference
   conventions (files made once by tools/make_weight_fixtures.py with NumPy and the safetensors rules),
   files NumPy wrote (stored, deflated, other dtypes, Fortran order), and corrupt or hostile files, each
   refused with a message and none crashing. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "check.h"
#include "scratch.h"
#include "weights.h"

#define FIX "tests/data/weights/"

static em_wt mk(const char *name, int ndim, const int64_t *shape, float *data) {
  em_wt t;
  memset(&t, 0, sizeof t);
  t.name = (char *)name;
  t.name_len = strlen(name);
  t.ndim = ndim;
  for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
  t.data = data;
  return t;
}

static const em_wt *find(const em_wt *ts, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (ts[i].name_len == strlen(name) && memcmp(ts[i].name, name, ts[i].name_len) == 0) return &ts[i];
  return NULL;
}

/* the fixtures' arrays: weight = arange(6).reshape(2, 3) / 4 - 0.5, bias, scalar */
static float W[6] = {-0.5f, -0.25f, 0.0f, 0.25f, 0.5f, 0.75f}, B[2] = {1.5f, -2.25f}, S[1] = {3.0f};
static const int64_t W_SHAPE[2] = {2, 3}, B_SHAPE[1] = {2};

static int same_tensor(const em_wt *t, int ndim, const int64_t *shape, const float *data, int64_t numel) {
  if (!t || t->ndim != ndim) return 0;
  for (int d = 0; d < ndim; d++) if (t->shape[d] != shape[d]) return 0;
  return numel == 0 || memcmp(t->data, data, (size_t)numel * 4) == 0;
}

static void test_safetensors_round_trip(void) {
  float nan_inf[4] = {NAN, INFINITY, -0.0f, 1e-45f};
  int64_t s4[1] = {4}, s03[2] = {0, 3};
  em_wt ts[4] = {mk("b.weight", 2, W_SHAPE, W), mk("a\"\\\n\x01", 1, s4, nan_inf), mk("scalar", 0, NULL, S),
                 mk("empty", 2, s03, NULL)};
  em_wt_meta meta[2] = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"x\""}};
  const char *p = tpath("rt.safetensors");
  CHECK(em_safetensors_write(p, ts, 4, meta, 2) == 0);
  em_wt *r;
  em_wt_meta *m;
  size_t n, nm;
  CHECK(em_safetensors_read(p, &r, &n, &m, &nm) == 0);
  CHECK(n == 4 && nm == 2);
  CHECK(same_tensor(find(r, n, "b.weight"), 2, W_SHAPE, W, 6));
  CHECK(same_tensor(find(r, n, "a\"\\\n\x01"), 1, s4, nan_inf, 4));
  CHECK(same_tensor(find(r, n, "scalar"), 0, NULL, S, 1));
  CHECK(same_tensor(find(r, n, "empty"), 2, s03, NULL, 0));
  /* data in name order, as the reference writes it: the first tensor's data starts the buffer */
  CHECK(n == 4 && strcmp(r[0].name, "a\"\\\n\x01") == 0 && strcmp(r[3].name, "scalar") == 0);
  CHECK(nm == 2 && strcmp(m[0].key, "format") == 0 && strcmp(m[0].value, "pt") == 0);
  CHECK(nm == 2 && strcmp(m[1].value, "caf\xc3\xa9 \"x\"") == 0);
  em_wt_free(r, n);
  em_wt_meta_free(m, nm);
  /* the header escapes as serde_json does */
  size_t size;
  unsigned char *b = slurp(p, &size);
  CHECK(memmem(b, size, "\"a\\\"\\\\\\n\\u0001\":", 15) != NULL);
  CHECK((8 + b[0]) % 8 == 0);
  free(b);
}

/* the byte list of the reference implementation's test_serialization: attn.0, F32 [1, 2, 3], 0..5 */
static void test_safetensors_bytes(void) {
  float v[6] = {0, 1, 2, 3, 4, 5};
  int64_t shape[3] = {1, 2, 3};
  em_wt t = mk("attn.0", 3, shape, v);
  const char *p = tpath("attn.safetensors");
  CHECK(em_safetensors_write(p, &t, 1, NULL, 0) == 0);
  const char *json = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
  unsigned char want[96] = {64, 0, 0, 0, 0, 0, 0, 0};
  memcpy(want + 8, json, 64);
  for (int i = 0; i < 6; i++) memcpy(want + 72 + 4 * i, &v[i], 4);   /* little-endian hosts */
  size_t size;
  unsigned char *b = slurp(p, &size);
  CHECK(size == 96 && memcmp(b, want, 96) == 0);
  free(b);
  /* no tensors: "{}" and six spaces */
  CHECK(em_safetensors_write(p, NULL, 0, NULL, 0) == 0);
  b = slurp(p, &size);
  CHECK(size == 16 && memcmp(b, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
  free(b);
  /* the fixture: three tensors and metadata, byte for byte */
  em_wt ts[3] = {mk("fc.weight", 2, W_SHAPE, W), mk("fc.bias", 1, B_SHAPE, B), mk("n\xc3\xa9\"q", 0, NULL, S)};
  em_wt_meta meta = {"format", "pt"};
  CHECK(em_safetensors_write(p, ts, 3, &meta, 1) == 0);
  size_t fsize;
  unsigned char *fix = slurp(FIX "reference.safetensors", &fsize);
  b = slurp(p, &size);
  CHECK(fix != NULL && size == fsize && memcmp(b, fix, size) == 0);
  free(b);
  free(fix);
  em_wt *r;
  size_t n;
  CHECK(em_safetensors_read(FIX "reference.safetensors", &r, &n, NULL, NULL) == 0);
  CHECK(n == 3 && same_tensor(find(r, n, "fc.weight"), 2, W_SHAPE, W, 6) && same_tensor(find(r, n, "fc.bias"), 1, B_SHAPE, B, 2));
  em_wt_free(r, n);
}

static void test_safetensors_write_errors(void) {
  em_wt ts[2] = {mk("x", 1, B_SHAPE, B), mk("x", 1, B_SHAPE, B)};
  CHECK(em_safetensors_write(tpath("e.safetensors"), ts, 2, NULL, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "save_safetensors: the name 'x' is given twice");
  ts[1] = mk("__metadata__", 1, B_SHAPE, B);
  CHECK(em_safetensors_write(tpath("e.safetensors"), ts, 2, NULL, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "reserved name __metadata__");
  ts[1] = mk("\xff", 1, B_SHAPE, B);
  CHECK(em_safetensors_write(tpath("e.safetensors"), ts, 2, NULL, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "not valid UTF-8");
  CHECK(em_safetensors_write(tpath("no/such/dir.safetensors"), ts, 1, NULL, 0) == -1);
  CHECK_STR_CONTAINS(em_error(), "cannot write");
  CHECK(access(tpath("e.safetensors"), F_OK) != 0);   /* nothing half-written */
  /* the message names the key after the writer's sorted copy of the metadata is gone (ASan) */
  em_wt_meta twice[3] = {{"note", "a"}, {"format", "pt"}, {"note", "b"}};
  CHECK(em_safetensors_write(tpath("e.safetensors"), ts, 1, twice, 3) == -1);
  CHECK_STR_CONTAINS(em_error(), "save_safetensors: metadata key 'note' is given twice");
  em_wt_meta bad = {"format", "\xc3("};
  CHECK(em_safetensors_write(tpath("e.safetensors"), ts, 1, &bad, 1) == -1);
  CHECK_STR_CONTAINS(em_error(), "save_safetensors: metadata text is not valid UTF-8");
  CHECK(access(tpath("e.safetensors"), F_OK) != 0);
}

/* a header and data made by hand: the reader's checks, one by one */
static const char *st_try(const char *header, const void *data, size_t dlen) {
  size_t h = strlen(header);
  unsigned char *b = malloc(8 + h + dlen + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(b + 8, header, h);
  if (dlen) memcpy(b + 8 + h, data, dlen);
  em_wt *r;
  size_t n;
  int rc = em_safetensors_read_mem(b, 8 + h + dlen, "x", &r, &n, NULL, NULL);
  free(b);
  if (rc == 0) { em_wt_free(r, n); return "ok"; }
  return em_error();
}

static void test_safetensors_corrupt(void) {
  float d[4] = {1, 2, 3, 4};
  CHECK(strcmp(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8), "ok") == 0);
  CHECK(strcmp(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":[{\"y\":null},1.5e3]}} \n", d, 8), "ok") == 0);
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 12), "cover 8 bytes of data, the file holds 12");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d, 8), "needs 12 bytes");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12), "leave a gap");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8), "overlap");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", d, 4), "end before they begin");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", d, 8), "dtype 'C64'");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4),
                     "more than 8 dimensions");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", d, 4),
                     "is too large: its sizes other than 0 multiply to more than 2^40");
  /* an empty tensor's other sizes are bounded too: its strides are their product */
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904,4611686018427387904],"
                            "\"data_offsets\":[0,0]}}", d, 0), "x' is corrupt (tensor 'a': shape [0 x 4611686018427387904 x");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[2097152,2097152,0],\"data_offsets\":[0,0]}}", d, 0),
                     "more than 2^40");
  CHECK(strcmp(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576,0],\"data_offsets\":[0,0]}}", d, 0), "ok") == 0);
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4), "non-negative integer");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", d, 4), "non-negative integer");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", d, 4), "too large");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8), "listed twice");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", d, 4), "lacks its data_offsets");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", d, 4), "given twice");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", d, 4), "byte");
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", d, 4), "text after");
  CHECK_STR_CONTAINS(st_try("{\"\xc0\xaf\":1}", d, 0), "not UTF-8");
  CHECK_STR_CONTAINS(st_try("{\"a\\ud800\":1}", d, 0), "surrogate");
  CHECK_STR_CONTAINS(st_try("[1]", d, 0), "must be a JSON object");
  CHECK_STR_CONTAINS(st_try("{\"__metadata__\":{\"k\":1}}", d, 0), "metadata value must be a string");
  CHECK_STR_CONTAINS(st_try("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", d, 0), "NUL");
  CHECK(strcmp(st_try("{\"__metadata__\":null}", d, 0), "ok") == 0);
  CHECK_STR_CONTAINS(st_try("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", "\x02", 1), "boolean");
  char deep[300] = "{\"a\":{\"x\":";
  for (int i = 0; i < 100; i++) strcat(deep, "[");
  CHECK_STR_CONTAINS(st_try(deep, d, 0), "nested too deep");
  /* other dtypes convert to float32 */
  unsigned char mixed[] = {0x00, 0x3c, 0x00, 0xc0,                 /* F16 1, -2 */
                           0x80, 0x3f,                             /* BF16 1 */
                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   /* I64 -1 */
                           1, 0};                                  /* BOOL */
  size_t h;
  const char *hdr = "{\"f\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"g\":{\"dtype\":\"BF16\",\"shape\":[],"
                    "\"data_offsets\":[4,6]},\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[6,14]},"
                    "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[14,16]}}";
  h = strlen(hdr);
  unsigned char *buf = malloc(8 + h + sizeof mixed);
  memset(buf, 0, 8);
  buf[0] = (unsigned char)h;
  memcpy(buf + 8, hdr, h);
  memcpy(buf + 8 + h, mixed, sizeof mixed);
  em_wt *r;
  size_t n;
  CHECK(em_safetensors_read_mem(buf, 8 + h + sizeof mixed, "mixed", &r, &n, NULL, NULL) == 0);
  const em_wt *f = find(r, n, "f"), *g = find(r, n, "g"), *i = find(r, n, "i"), *b = find(r, n, "b");
  CHECK(f && f->data[0] == 1.0f && f->data[1] == -2.0f);
  CHECK(g && g->ndim == 0 && g->data[0] == 1.0f);
  CHECK(i && i->data[0] == -1.0f);
  CHECK(b && b->data[0] == 1.0f && b->data[1] == 0.0f);
  em_wt_free(r, n);
  /* every prefix of a good file is refused with a message, never a crash */
  size_t size;
  unsigned char *good = slurp(FIX "reference.safetensors", &size);
  int refused = 0;
  for (size_t k = 0; k < size; k++) {
    if (em_safetensors_read_mem(good, k, "cut", &r, &n, NULL, NULL) == 0) em_wt_free(r, n);
    else refused += strncmp(em_error(), "load: ", 6) == 0;
  }
  CHECK(refused == (int)size);
  /* a header length beyond the limit is refused before anything is read */
  memcpy(buf, "\xff\xff\xff\xff\xff\xff\xff\x7f{", 9);
  CHECK(em_safetensors_read_mem(buf, 9, "huge", &r, &n, NULL, NULL) == -1);
  CHECK_STR_CONTAINS(em_error(), "at most 100000000");
  free(buf);
  free(good);
}

static void test_npz_round_trip(void) {
  float nan_inf[4] = {NAN, INFINITY, -0.0f, 1e-45f};
  int64_t s4[1] = {4}, s03[2] = {0, 3};
  em_wt ts[5] = {mk("fc.weight", 2, W_SHAPE, W), mk("fc.bias", 1, B_SHAPE, B), mk("scalar", 0, NULL, S),
                 mk("odd/n\xc3\xa9", 1, s4, nan_inf), mk("empty", 2, s03, NULL)};
  const char *p = tpath("rt.npz");
  CHECK(em_npz_write(p, ts, 5) == 0);
  em_wt *r;
  size_t n;
  CHECK(em_npz_read(p, &r, &n) == 0);
  CHECK(n == 5);
  CHECK(same_tensor(find(r, n, "fc.weight"), 2, W_SHAPE, W, 6));
  CHECK(same_tensor(find(r, n, "fc.bias"), 1, B_SHAPE, B, 2));
  CHECK(same_tensor(find(r, n, "scalar"), 0, NULL, S, 1));
  CHECK(same_tensor(find(r, n, "odd/n\xc3\xa9"), 1, s4, nan_inf, 4));
  CHECK(same_tensor(find(r, n, "empty"), 2, s03, NULL, 0));
  em_wt_free(r, n);
  /* the member holds exactly the bytes np.save writes for the same array */
  size_t size, npy_size;
  unsigned char *b = slurp(p, &size), *npy = slurp(FIX "numpy_weight.npy", &npy_size);
  CHECK(npy != NULL && npy_size == 152 && memmem(b, size, npy, npy_size) != NULL);
  /* and the same weights give the same bytes */
  CHECK(em_npz_write(tpath("rt2.npz"), ts, 5) == 0);
  size_t size2;
  unsigned char *b2 = slurp(tpath("rt2.npz"), &size2);
  CHECK(size2 == size && memcmp(b, b2, size) == 0);
  free(b);
  free(b2);
  free(npy);
  em_wt dup[2] = {mk("x", 1, B_SHAPE, B), mk("x", 1, B_SHAPE, B)};
  CHECK(em_npz_write(tpath("dup.npz"), dup, 2) == -1);
  CHECK_STR_CONTAINS(em_error(), "save_npz: tensor 'x' is given twice");
}

static void test_npz_from_numpy(void) {
  em_wt *r;
  size_t n;
  CHECK(em_npz_read(FIX "numpy_savez.npz", &r, &n) == 0);
  CHECK(n == 3 && strcmp(r[0].name, "fc.weight") == 0);
  CHECK(same_tensor(find(r, n, "fc.weight"), 2, W_SHAPE, W, 6));
  CHECK(same_tensor(find(r, n, "fc.bias"), 1, B_SHAPE, B, 2));
  CHECK(same_tensor(find(r, n, "scalar"), 0, NULL, S, 1));
  em_wt_free(r, n);
  CHECK(em_npz_read(FIX "numpy_savez_compressed.npz", &r, &n) == 0);
  CHECK(n == 6);
  const em_wt *t = find(r, n, "f8");
  CHECK(t && t->ndim == 2 && t->data[0] == 1.0f && t->data[1] == -2.5f && t->data[2] == 1e-3f && t->data[3] == 4.0f);
  t = find(r, n, "f2");
  CHECK(t && t->data[0] == 0.5f && t->data[1] == -1.0f && t->data[2] == 65504.0f);
  t = find(r, n, "i8");
  CHECK(t && t->data[0] == -3.0f && t->data[1] == 0.0f && t->data[2] == 7.0f);
  t = find(r, n, "u1");
  CHECK(t && t->data[0] == 0.0f && t->data[1] == 255.0f);
  t = find(r, n, "b1");
  CHECK(t && t->data[0] == 1.0f && t->data[1] == 0.0f);
  float c_order[6] = {0, 1, 2, 3, 4, 5};
  CHECK(same_tensor(find(r, n, "fortran"), 2, W_SHAPE, c_order, 6));
  em_wt_free(r, n);
}

/* reads the zip in b (then frees b): "ok", or the reader's message */
static const char *npz_verdict(unsigned char *b, size_t size) {
  static char msg[1100];
  em_wt *r;
  size_t n;
  int rc = em_npz_read_mem(b, size, "x", &r, &n);
  free(b);
  if (rc == 0) { em_wt_free(r, n); return "ok"; }
  snprintf(msg, sizeof msg, "%s", em_error());
  return msg;
}

/* patches a copy of a zip and reads it: the reader's message */
static const char *npz_try(const unsigned char *good, size_t size, size_t at, const void *bytes, size_t len) {
  unsigned char *b = malloc(size);
  memcpy(b, good, size);
  memcpy(b + at, bytes, len);
  return npz_verdict(b, size);
}

static void test_npz_corrupt(void) {
  size_t size;
  unsigned char *good = slurp(FIX "numpy_savez.npz", &size);
  em_wt *r;
  size_t n;
  /* every prefix and every single-byte change: a message or a good read, never a crash */
  int refused = 0, clean = 1;
  for (size_t k = 0; k < size; k++) {
    if (em_npz_read_mem(good, k, "cut", &r, &n) == 0) em_wt_free(r, n);
    else refused += strncmp(em_error(), "load: ", 6) == 0;
  }
  CHECK(refused == (int)size);
  unsigned char *b = malloc(size);
  for (size_t k = 0; k < size; k++) {
    memcpy(b, good, size);
    b[k] ^= 0x5a;
    if (em_npz_read_mem(b, size, "flip", &r, &n) == 0) em_wt_free(r, n);
    else clean &= strncmp(em_error(), "load: ", 6) == 0;
  }
  CHECK(clean);
  free(b);
  /* a changed data byte fails the CRC (offset 0xc2: inside fc.weight's floats) */
  CHECK_STR_CONTAINS(npz_try(good, size, 0xc2, "\x01", 1), "CRC mismatch");
  CHECK_STR_CONTAINS(npz_try(good, size, 0x28, "x", 1), "disagrees with the central directory");
  CHECK_STR_CONTAINS(npz_try(good, size, 0, "PK\x03\x05", 4), "local header out of place");
  free(good);
  CHECK(em_npz_read_mem("PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22, "empty", &r, &n) == 0);
  CHECK(n == 0);
  em_wt_free(r, n);
  CHECK(em_npz_read(tpath("missing.npz"), &r, &n) == -1);
  CHECK_STR_CONTAINS(em_error(), "load: cannot open");
  /* a deflated member may not claim more than its bytes can inflate to */
  good = slurp(FIX "numpy_savez_compressed.npz", &size);
  unsigned char *cd = memmem(good, size, "PK\x01\x02", 4);
  CHECK(cd != NULL);
  if (cd) {
    CHECK_STR_CONTAINS(npz_try(good, size, (size_t)(cd - good) + 24, "\x00\x00\x00\x40", 4), "claims more bytes");
    CHECK_STR_CONTAINS(npz_try(good, size, (size_t)(cd - good) + 10, "\x0c\x00", 2), "compression method 12");
    CHECK_STR_CONTAINS(npz_try(good, size, (size_t)(cd - good) + 8, "\x01\x00", 2), "encrypted");
  }
  free(good);
}

/* a zip of one stored member with a correct CRC: the NPY checks, past the container's */
static const char *npy_try(const char *member, const char *header, size_t data_len) {
  size_t nlen = strlen(member), hlen = strlen(header), mlen = 10 + hlen + data_len;
  size_t size = 30 + nlen + mlen + 46 + nlen + 22;
  unsigned char *b = calloc(1, size), *m = b + 30 + nlen;
  memcpy(m, "\x93NUMPY\x01\x00", 8);
  m[8] = (unsigned char)hlen;
  m[9] = (unsigned char)(hlen >> 8);
  memcpy(m + 10, header, hlen);
  uint32_t crc = (uint32_t)crc32(0L, m, (uInt)mlen);
  unsigned char *c = m + mlen, *e = c + 46 + nlen;
  memcpy(b, "PK\x03\x04\x14\0\0\0\0\0", 10);
  memcpy(c, "PK\x01\x02\x14\x03\x14\0\0\0\0\0", 12);
  for (int i = 0; i < 4; i++) {
    b[14 + i] = c[16 + i] = (unsigned char)(crc >> (8 * i));
    b[18 + i] = b[22 + i] = c[20 + i] = c[24 + i] = (unsigned char)((uint32_t)mlen >> (8 * i));
    e[12 + i] = (unsigned char)((uint32_t)(46 + nlen) >> (8 * i));
    e[16 + i] = (unsigned char)((uint32_t)(c - b) >> (8 * i));
  }
  b[26] = c[28] = (unsigned char)nlen;
  memcpy(b + 30, member, nlen);
  memcpy(c + 46, member, nlen);
  memcpy(e, "PK\x05\x06\0\0\0\0\x01\0\x01\0", 12);
  return npz_verdict(b, size);
}

static void test_npy_headers(void) {
  CHECK(strcmp(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8), "ok") == 0);
  CHECK(strcmp(npy_try("a.npy", "{\"shape\":(),\"descr\":\">f8\",\"fortran_order\":True}", 8), "ok") == 0);
  CHECK_STR_CONTAINS(npy_try("a.txt", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8), "not a .npy array");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16), "pickled Python objects");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8), "descr must be");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16), "not a number type");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }", 24), "needs 36 bytes of data, it holds 24");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8), "needs its comma");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8), "True or False");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8), "key other than");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8), "given twice");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'shape': (2,)}", 8), "lacks");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4), "limit of 8");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4), "non-negative");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", 4),
                     "is too large: its sizes other than 0 multiply to more than 2^40");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904)}", 0),
                     "is corrupt (member a.npy: shape [0 x 4611686018427387904 x 4611686018427387904] is too large");
  CHECK(strcmp(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 0, 1048576)}", 0), "ok") == 0);
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8), "text after");
  CHECK_STR_CONTAINS(npy_try("a.npy", "{'descr': '|b1', 'fortran_order': False, 'shape': (1,)}", 0), "needs 1 bytes");
}

static void test_write_keeps_old_file(void) {
  const char *p = tpath("keep.npz");
  em_wt t = mk("w", 2, W_SHAPE, W);
  CHECK(em_npz_write(p, &t, 1) == 0);
  size_t size;
  unsigned char *old = slurp(p, &size);
  float *big = calloc(4096, sizeof(float));
  int64_t shape[1] = {4096};
  em_wt e = mk("big", 1, shape, big);
  CHECK(file_size_limit(4096) == 0);
  int rc1 = em_npz_write(p, &e, 1), rc2 = em_safetensors_write(p, &e, 1, NULL, 0);
  file_size_unlimit();
  CHECK(rc1 == -1 && rc2 == -1);
  CHECK_STR_CONTAINS(em_error(), "keep.npz': File too large");
  size_t now;
  unsigned char *b = slurp(p, &now);
  CHECK(now == size && memcmp(b, old, size) == 0);
  free(b);
  free(old);
  free(big);
}

/* a FIFO without a writer, a device or a folder is refused at once (fopen blocked on the FIFO forever) */
static void test_read_not_regular(void) {
  const char *fifo = tpath("pipe.safetensors");
  CHECK(mkfifo(fifo, 0600) == 0);
  em_wt *r;
  size_t n;
  const char *paths[3] = {fifo, "/dev/zero", scratch};
  for (int i = 0; i < 3; i++) {
    CHECK(em_safetensors_read(paths[i], &r, &n, NULL, NULL) == -1);
    CHECK_STR_CONTAINS(em_error(), i == 2 ? "Is a directory" : "': not a regular file");
    CHECK(em_npz_read(paths[i], &r, &n) == -1);
    CHECK_STR_CONTAINS(em_error(), "load: cannot read '");
  }
}

int main(void) {
  if (scratch_open("weights") != 0) return 1;
  test_safetensors_round_trip();
  test_safetensors_bytes();
  test_safetensors_write_errors();
  test_safetensors_corrupt();
  test_npz_round_trip();
  test_npz_from_numpy();
  test_npz_corrupt();
  test_npy_headers();
  test_write_keeps_old_file();
  test_read_not_regular();
  scratch_close();
  return CHECK_DONE();
}
