/* fuzz_safetensors.c - libFuzzer target of the safetensors reader: any bytes must give tensors or a
   message, never a crash, a leak or a read outside the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_weights.h"

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
  volatile unsigned char sink = fuzz_touch_tensors(ts, n);
  for (size_t i = 0; i < nmeta; i++) sink ^= (unsigned char)(meta[i].key[strlen(meta[i].key)] ^ meta[i].value[0]);
  (void)sink;
  em_wt_free(ts, n);
  em_wt_meta_free(meta, nmeta);
  return 0;
}
