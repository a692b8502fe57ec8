/* fuzz_checkpoint.c - libFuzzer target of the checkpoint reader: any bytes must give entries or a message,
   never a crash, a leak or an allocation larger than the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  em_ck_entry *es;
  size_t n;
  if (em_checkpoint_read_mem(data, size, "fuzz", &es, &n) != 0) {
    /* a refusal always explains itself */
    if (strncmp(em_error(), "load: ", 6) != 0) __builtin_trap();
    return 0;
  }
  /* touch everything the reader claims to have allocated, so ASan sees any overstatement */
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < n; i++) {
    const em_ck_entry *e = &es[i];
    for (size_t k = 0; k <= e->name_len; k++) sink ^= (unsigned char)e->name[k];
    if (e->kind == EM_CK_STRING)
      for (size_t k = 0; k <= e->len; k++) sink ^= (unsigned char)e->str[k];
    if (e->kind == EM_CK_TENSOR) {
      int64_t numel = 1;
      if (e->ndim > EM_MAX_DIMS) __builtin_trap();
      for (int d = 0; d < e->ndim; d++) numel *= e->shape[d];
      for (int64_t k = 0; k < numel; k++) sink ^= ((const unsigned char *)e->data)[4 * k];
    }
  }
  (void)sink;
  em_checkpoint_free(es, n);
  return 0;
}
