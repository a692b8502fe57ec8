/* weights_io.h - what the two weights formats (safetensors.c, npz.c) share and nothing else includes:
   element types and their conversion to float32, the atomic file writer and
   the whole-file reader (implemented in weights.c). */
#ifndef EMBER_WEIGHTS_IO_H
#define EMBER_WEIGHTS_IO_H
#include <stdio.h>
#include <zlib.h>
#include "atomic.h"
#include "bytes.h"
#include "error.h"
#include "weights.h"

/* element types the readers convert from */
enum em_wt_type { WT_F32, WT_F64, WT_F16, WT_BF16, WT_I8, WT_I16, WT_I32, WT_I64, WT_U8, WT_U16, WT_U32,
                  WT_U64, WT_BOOL };
/* bytes per element of a type */
int em_wt_type_size(enum em_wt_type t);
/* n elements of type t at src (little-endian, or big-endian when big) into out as float32; -1 (with a
   message naming label) for a boolean byte that is neither 0 nor 1 */
int em_wt_convert(float *out, const unsigned char *src, int64_t n, enum em_wt_type t, int big, const char *label);

/* orders two names of given lengths (they may hold NUL bytes) as memcmp, a prefix first; 0 when equal */
int em_wt_name_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* the same order for qsort of an array of const em_wt pointers */
int em_wt_by_name(const void *pa, const void *pb);

/* numel of a shape, or -1 when a size is negative or the sizes other than 0 multiply to more than
   EM_MAX_NUMEL (2^40, the most any tensor may have: em_check_shape), or numel times elem bytes overflows */
int64_t em_wt_numel(int ndim, const int64_t *shape, int64_t elem);

/* A file written atomically (core/atomic.h: PATH.tmp.<pid>, fsync, rename): put bytes, then close; any
   failure removes the temporary file and leaves path as it was. fn prefixes messages ("save_npz"). */
typedef struct em_wt_out {
  em_atomic a;
  uint64_t pos;                 /* bytes written so far */
  int err;                      /* errno of the first failed write */
} em_wt_out;
int em_wt_out_open(em_wt_out *o, const char *path, const char *fn);
void em_wt_out_put(em_wt_out *o, const void *p, size_t n);
void em_wt_out_floats(em_wt_out *o, const float *x, int64_t n);
int em_wt_out_close(em_wt_out *o);      /* 0, or -1 with "FN: cannot write 'PATH': why" */
void em_wt_out_abort(em_wt_out *o);     /* after an error found while writing: removes the temporary file */

/* the whole of a regular file, read into memory */
typedef struct em_wt_buf {
  const unsigned char *p;
  size_t size;
} em_wt_buf;
int em_wt_read_file(const char *path, em_wt_buf *b);   /* -1 with "load: cannot open 'PATH': why" (em_open_regular) */
void em_wt_buf_free(em_wt_buf *b);

/* a new em_wt array of n zeroed entries (calloc; NULL with a message naming label when out of memory) */
em_wt *em_wt_alloc(size_t n, const char *label);
#endif
