/* error.h - the core's error path: functions that can fail on user input return NULL or -1 and leave a
   message here; the Lua binding raises it as a Lua error. Nothing in the core aborts on user input. */
#ifndef EMBER_ERROR_H
#define EMBER_ERROR_H
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define EM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define EM_PRINTF(a, b)
#endif

/* what kind of failure it was; the binding raises it as the Lua error kind of the same name
   (lua/ember/error.lua) */
enum em_errkind {
  EM_EVALUE,    /* an argument with a wrong value (the default) */
  EM_ESHAPE,    /* shapes that do not fit */
  EM_ETYPE,     /* an argument of the wrong type */
  EM_EIO,       /* the outside world refused: open, read, write */
  EM_EFORMAT,   /* a corrupt file or one of the wrong format */
  EM_ESTATE,    /* not allowed in the object's current state */
  EM_ENOMEM     /* out of memory */
};

/* sets the message of the calling thread (printf-style) with kind EM_EVALUE; always returns -1 for
   `return em_fail(...)` */
int em_fail(const char *fmt, ...) EM_PRINTF(1, 2);
/* the same with a kind */
int em_fail_kind(enum em_errkind kind, const char *fmt, ...) EM_PRINTF(2, 3);
/* the last message set on this thread ("" when none) and its kind */
const char *em_error(void);
enum em_errkind em_error_kind(void);
void em_clear_error(void);

/* "[64 x 1 x 28 x 28]"; "[]" for a 0-d tensor. Returns buf. One helper so every message looks the same. */
char *em_shape_str(char *buf, size_t len, int ndim, const int64_t *shape);
#define EM_SHAPE_BUF 128
/* i + 1: a 0-based index as the user counts it, exact for every int64_t (i + 1 itself overflows) */
char *em_index1_str(char *buf, size_t len, int64_t i);
#define EM_INDEX_BUF 24
#endif
