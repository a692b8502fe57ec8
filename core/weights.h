/* weights.h - model weights in the formats other tools read: safetensors (Hugging Face's format, which
   PyTorch reads with safetensors.torch) and npz (NumPy's zip of .npy arrays, np.load). A weights file
   is a flat list of named float32 tensors; writers write float32 only, readers also convert the other
   numeric types those tools write (float64, float16, bfloat16, integers, booleans) to float32.

   Writers go through PATH.tmp.<pid>, fsync and rename, like checkpoints: a crash or a failed write
   leaves the old file. Readers read the whole file and check every header field (lengths, offsets,
   types, shapes, sizes, CRCs) against it before they allocate or copy anything; a refusal says what
   is wrong in a message that starts with "load: ". */
#ifndef EMBER_WEIGHTS_H
#define EMBER_WEIGHTS_H
#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

typedef struct em_wt {
  char *name;                   /* name_len bytes; readers add a '\0' after them */
  size_t name_len;
  int ndim;                     /* 0..EM_MAX_DIMS; 0 is a scalar with one value */
  int64_t shape[EM_MAX_DIMS];
  float *data;                  /* numel values, row-major (C order) */
} em_wt;

/* a string pair of safetensors' optional "__metadata__" table */
typedef struct em_wt_meta {
  char *key, *value;            /* '\0'-terminated; JSON strings hold no '\0' that we write or accept */
} em_wt_meta;

enum { EM_WT_NONE = 0, EM_WT_SAFETENSORS = 1, EM_WT_NPZ = 2 };

/* which of the two formats the first n bytes of a file (at least 9 are needed for safetensors) are:
   a zip's local header or end record for npz, an 8-byte length followed by '{' for safetensors */
int em_weights_sniff(const unsigned char *head, size_t n);

/* Writes the n tensors, in name order, as safetensors: u64 little-endian header length, the JSON header
   ({"__metadata__":{...},"name":{"dtype":"F32","shape":[...],"data_offsets":[begin,end]},...}, no
   spaces, padded with spaces to a multiple of 8 bytes), then the data. meta (nmeta pairs) may be NULL.
   Names must be distinct, non-empty, valid UTF-8 and not "__metadata__". Returns 0 or -1 (em_error()
   says why: "save_safetensors: ..."). */
int em_safetensors_write(const char *path, const em_wt *ts, size_t n, const em_wt_meta *meta, size_t nmeta);

/* Reads a safetensors file into *ts (*n tensors, in the order of their data) and its metadata into
   *meta (*nmeta pairs; NULL and 0 when it has none). Free with em_wt_free and em_wt_meta_free. */
int em_safetensors_read(const char *path, em_wt **ts, size_t *n, em_wt_meta **meta, size_t *nmeta);
/* the same over a buffer (the fuzz target's entry point); label names it in messages */
int em_safetensors_read_mem(const void *buf, size_t size, const char *label, em_wt **ts, size_t *n,
                            em_wt_meta **meta, size_t *nmeta);

/* Writes the n tensors, in name order, as an npz file: a zip archive (entries stored, CRC-32 from zlib,
   fixed 1980-01-01 timestamps so the same weights give the same bytes) holding NAME.npy per tensor, each
   an NPY version 1.0 array with dtype '<f4' in C order, its header written as NumPy writes it. Names
   must be distinct and non-empty. Returns 0 or -1 ("save_npz: ..."). */
int em_npz_write(const char *path, const em_wt *ts, size_t n);

/* Reads an npz file (stored or deflated members, zip64 fields as NumPy writes them) into *ts, one tensor
   per NAME.npy member, named NAME, in the archive's order. Free with em_wt_free. */
int em_npz_read(const char *path, em_wt **ts, size_t *n);
int em_npz_read_mem(const void *buf, size_t size, const char *label, em_wt **ts, size_t *n);

/* free what a reader returned; NULL is fine */
void em_wt_free(em_wt *ts, size_t n);
void em_wt_meta_free(em_wt_meta *meta, size_t n);
#endif
