/* fuzz_safetensors.c - libFuzzer target of the safetensors reader: any bytes must give tensors or a
   message, never a crash, a leak or a read outside the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  em_wt *ts;
  em_wt_meta *meta;
  size_t n, nmeta;
  if (em_safetensors_read_mem(data, size, "fuzz", &ts, &n, &meta, &nmeta) != 0) {
    /* a refusal always explains itself */
    if (strncmp(em_error(), "load: ", 6) != 0) __builtin_trap();
    return 0;
  }
  /* touch everything the reader claims to have allocated, so ASan sees any overstatement */
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < n; i++) {
    const em_wt *t = &ts[i];
    for (size_t k = 0; k <= t->name_len; k++) sink ^= (unsigned char)t->name[k];
    if (t->ndim < 0 || t->ndim > EM_MAX_DIMS) __builtin_trap();
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    for (int64_t k = 0; k < numel; k++) sink ^= ((const unsigned char *)t->data)[4 * k];
  }
  for (size_t i = 0; i < nmeta; i++) sink ^= (unsigned char)(meta[i].key[strlen(meta[i].key)] ^ meta[i].value[0]);
  (void)sink;
  em_wt_free(ts, n);
  em_wt_meta_free(meta, nmeta);
  return 0;
}
