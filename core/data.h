/* data.h - data loading for training: the IDX (MNIST format) and CSV parsers, row gathering for batch
   iterators, per-feature statistics for normalisation, and a synthetic regression generator.
   The parsers (em_idx_load, em_csv_load) need no tensors, so tests and fuzz targets use them alone;
   every failure returns -1 or NULL and leaves a message naming the file and what is wrong (error.h). */
#ifndef EMBER_DATA_H
#define EMBER_DATA_H
#include <stdint.h>
#include "tensor.h"
#include "rng.h"

/* ---- IDX: the MNIST file format, gzipped or raw (zlib reads both) ----
   Layout (yann.lecun.com/exdb/mnist): two zero bytes, a type byte (0x08 = unsigned byte, the only one
   supported), the number of dimensions, then each dimension as a big-endian uint32, then the data. */
#define EM_IDX_MAX_DIMS 4
/* no sane IDX file holds more elements than this (2^36 bytes); larger headers are corrupt */
#define EM_IDX_MAX_ELEMENTS ((int64_t)1 << 36)

typedef struct em_idx {
  int ndim;
  int64_t dims[EM_IDX_MAX_DIMS];
  int64_t count;           /* product of dims */
  unsigned char *data;     /* count bytes, owned; em_idx_free releases it */
} em_idx;

/* Reads a whole IDX file. Exact size checks: a short file and bytes after the data are both errors,
   and a header that claims more data than the file could inflate to fails before any allocation.
   Returns 0, or -1 with em_error() set (out is then empty). */
int em_idx_load(const char *path, em_idx *out);
void em_idx_free(em_idx *idx);

/* An IDX file as a tensor: 3-d (N, H, W) images become float (N, 1, H, W) scaled to [0, 1]; 1-d labels
   become class indices 1..C (the byte plus one, as ember's labels are 1-based). Other ranks are errors. */
em_tensor *em_idx_read(const char *path);
/* an MNIST-style pair: images must be 3-d, labels 1-d, with the same number of samples. On success *x
   and *y are new references; on failure both are NULL. */
int em_idx_read_pair(const char *images, const char *labels, em_tensor **x, em_tensor **y);

/* ---- CSV: numeric tables ----
   One record per line (LF or CRLF), fields split on sep; a field may be double-quoted ("" is a quote).
   Blank lines are skipped. Every data field must parse whole as a finite float32 (strtod): an empty or
   non-numeric field is an error naming the line and the column. Without a header, columns are named
   "c1", "c2", ... */
typedef struct em_csv {
  int64_t rows, cols;
  char **names;            /* cols strings, owned */
  float *data;             /* rows * cols, row-major, owned */
} em_csv;

int em_csv_load(const char *path, char sep, int header, em_csv *out);
void em_csv_free(em_csv *csv);
/* the table as a (rows, cols) tensor; new reference */
em_tensor *em_csv_tensor(const em_csv *csv);

/* ---- batching ----
   dst (B, ...) gets rows idx[0..B-1] of src (N, ...): same trailing shape, dst contiguous, indices
   0-based and < N. idx == NULL means rows first .. first+B-1. A batch iterator refills one tensor with
   this instead of building a batch per sample in Lua. */
int em_gather_rows(em_tensor *dst, em_tensor *src, const int64_t *idx, int64_t first);

/* ---- normalisation ----
   Statistics per feature group of x (N, ...): the columns of a 2-d x, the channels (dim 1) of an image
   batch (N, C, ...), and the single group of a 1-d x. Results are shaped to broadcast against x:
   (1, F), (1, C, 1, ...) or (1). kind EM_STATS_MEAN_STD gives mean and population std (as
   sklearn's StandardScaler); EM_STATS_MIN_MAX gives min and max. */
typedef enum { EM_STATS_MEAN_STD, EM_STATS_MIN_MAX } em_stats_kind;
int em_data_stats(em_tensor *x, em_stats_kind kind, em_tensor **a, em_tensor **b);
/* (x - shift) / scale per feature group, as a new contiguous tensor; a zero scale counts as 1, so a
   constant feature becomes 0 rather than NaN. shift and scale hold one value per group. */
em_tensor *em_data_rescale(em_tensor *x, em_tensor *shift, em_tensor *scale);

/* ---- synthetic regression ----
   x (n, f) ~ N(0, 1), true weights w (f, 1) ~ N(0, 1), bias b ~ N(0, 1),
   y (n, 1) = x w + b + noise * N(0, 1).
   round(outliers * n) rows (picked at random) get an extra error of random sign and size in
   [outlier_scale, 2 outlier_scale); mask (n) marks them with 1. All outputs are new references. */
typedef struct em_synthetic {
  em_tensor *x, *y, *w, *mask;
  float b;
} em_synthetic;
int em_data_synthetic_regression(em_rng *r, int64_t n, int64_t f, double noise, double outliers,
                                 double outlier_scale, em_synthetic *out);
#endif
