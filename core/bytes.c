/* bytes.c - float32s as little-endian bytes (bytes.h). */
#include <string.h>
#include "bytes.h"

void em_float_bytes_le(const float *x, int64_t n, void (*fn)(void *ctx, const unsigned char *p, size_t len),
                       void *ctx) {
  unsigned char buf[4 * 4096];
  while (n > 0) {
    int64_t k = n > 4096 ? 4096 : n;
    for (int64_t i = 0; i < k; i++) {
      uint32_t u;
      memcpy(&u, &x[i], 4);
      em_put_le32(buf + 4 * i, u);
    }
    fn(ctx, buf, (size_t)(4 * k));
    x += k;
    n -= k;
  }
}
