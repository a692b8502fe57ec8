/* fuzz_npz.c - libFuzzer target of the npz reader (zip container and NPY headers): any bytes must give
   tensors or a message, never a crash, a leak or an allocation the input cannot justify. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fuzz_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  em_wt *ts;
  size_t n;
  if (em_npz_read_mem(data, size, "fuzz", &ts, &n) != 0) {
    if (strncmp(em_error(), "load: ", 6) != 0) __builtin_trap();
    return 0;
  }
  (void)fuzz_touch_tensors(ts, n);
  em_wt_free(ts, n);
  return 0;
}
