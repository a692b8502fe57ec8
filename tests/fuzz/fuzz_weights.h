/* fuzz_weights.h - what the safetensors and npz targets share: touching every byte a reader claims to
   have allocated, so that ASan sees any overstatement. */
#ifndef EMBER_FUZZ_WEIGHTS_H
#define EMBER_FUZZ_WEIGHTS_H
#include <stddef.h>
#include <stdint.h>
#include "weights.h"

/* reads each name (with its NUL) and each tensor's elements; traps on a rank the format does not allow */
static unsigned char fuzz_touch_tensors(const em_wt *ts, size_t n) {
  volatile unsigned char sink = 0;
  for (size_t i = 0; i < n; i++) {
    const em_wt *t = &ts[i];
    for (size_t k = 0; k <= t->name_len; k++) sink ^= (unsigned char)t->name[k];
    if (t->ndim < 0 || t->ndim > EM_MAX_DIMS) __builtin_trap();
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    for (int64_t k = 0; k < numel; k++) sink ^= ((const unsigned char *)t->data)[4 * k];
  }
  return sink;
}
#endif
