/* fuzz_npz.c - libFuzzer target of the npz reader (zip container and NPY headers): any bytes must give
   tensors or a message, never a crash, a leak or an allocation the input cannot justify. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  em_wt *ts;
  size_t n;
  if (em_npz_read_mem(data, size, "fuzz", &ts, &n) != 0) {
    if (strncmp(em_error(), "load: ", 6) != 0) __builtin_trap();
    return 0;
  }
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < n; i++) {
    const em_wt *t = &ts[i];
    for (size_t k = 0; k <= t->name_len; k++) sink ^= (unsigned char)t->name[k];
    if (t->ndim < 0 || t->ndim > EM_MAX_DIMS) __builtin_trap();
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    for (int64_t k = 0; k < numel; k++) sink ^= ((const unsigned char *)t->data)[4 * k];
  }
  (void)sink;
  em_wt_free(ts, n);
  return 0;
}
