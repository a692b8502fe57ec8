/* fuzz_csv.c - libFuzzer target for the CSV reader (em_csv_load). The first input byte picks the
   separator, the header flag and gzip compression of the rest. Besides the sanitizers, it checks what
   a successful load promises: at least one row and column, named columns, finite float values. */
#include <math.h>
#include "fuzz_common.h"
#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char seps[4] = {',', ';', '\t', ' '};
  char sep = seps[data[0] & 3];
  int header = (data[0] >> 2) & 1;
  const char *path = fuzz_file(data + 1, size - 1, (data[0] >> 3) & 1);
  em_csv c;
  if (em_csv_load(path, sep, header, &c) == 0) {
    if (c.rows < 1 || c.cols < 1 || !c.names || !c.data) abort();
    for (int64_t j = 0; j < c.cols; j++)
      if (!c.names[j] || !c.names[j][0]) abort();
    for (int64_t i = 0; i < c.rows * c.cols; i++)
      if (!isfinite(c.data[i])) abort();
    em_tensor *t = em_csv_tensor(&c);
    if (!t || em_numel(t) != c.rows * c.cols) abort();
    em_tensor_release(t);
    em_csv_free(&c);
  } else if (c.data || c.names || strstr(em_error(), path) == NULL) {
    abort();
  }
  return 0;
}
