/* fuzz_idx.c - libFuzzer target for the IDX reader (em_idx_load and em_idx_read). The first input byte
   chooses whether the rest is read as written or gzip-compressed first. Besides the sanitizers, it
   checks what a successful load promises: the element count is the product of the dimensions. */
#include "fuzz_common.h"
#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path = fuzz_file(data + 1, size - 1, data[0] & 1);
  em_idx idx;
  if (em_idx_load(path, &idx) == 0) {
    int64_t n = 1;
    for (int d = 0; d < idx.ndim; d++) n *= idx.dims[d];
    if (idx.ndim < 1 || idx.ndim > EM_IDX_MAX_DIMS || n != idx.count || !idx.data) abort();
    volatile unsigned sum = 0;
    for (int64_t i = 0; i < idx.count; i++) sum += idx.data[i];   /* every byte is readable */
    em_idx_free(&idx);
  } else if (idx.data || strstr(em_error(), path) == NULL) {
    abort();   /* a failure leaves nothing allocated and names the file */
  }
  em_tensor *t = em_idx_read(path);
  if (t) {
    if (t->ndim != 1 && t->ndim != 4) abort();
    const float *v = em_data(t);
    for (int64_t i = 0, n = em_numel(t); i < n; i++)
      if (!(v[i] >= 0.0f && v[i] <= 256.0f)) abort();
    em_tensor_release(t);
  }
  return 0;
}
