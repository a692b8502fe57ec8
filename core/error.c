/* error.c - per-thread error message of the core, and the shape formatter every message uses. */
#include <stdarg.h>
#include <stdio.h>
#include "error.h"

static __thread char em_msg[1024];
static __thread enum em_errkind em_kind;

int em_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(em_msg, sizeof em_msg, fmt, ap);
  va_end(ap);
  em_kind = EM_EVALUE;
  return -1;
}

int em_fail_kind(enum em_errkind kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(em_msg, sizeof em_msg, fmt, ap);
  va_end(ap);
  em_kind = kind;
  return -1;
}

const char *em_error(void) { return em_msg; }
enum em_errkind em_error_kind(void) { return em_kind; }
void em_clear_error(void) { em_msg[0] = '\0'; em_kind = EM_EVALUE; }

char *em_index1_str(char *buf, size_t len, int64_t i) {
  if (i >= 0) snprintf(buf, len, "%llu", (unsigned long long)i + 1);
  else snprintf(buf, len, "%lld", (long long)(i + 1));
  return buf;
}

char *em_shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, len - n, "[");
  for (int i = 0; i < ndim && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, i ? " x %lld" : "%lld", (long long)shape[i]);
  if (n < len) snprintf(buf + n, len - n, "]");
  return buf;
}
