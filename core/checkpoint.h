/* checkpoint.h - the checkpoint file format: a flat list of named entries (tensors,
   numbers, integers, strings, booleans, empty tables) written atomically and read back with every
   length checked against the file before it is trusted.

   Layout, all little-endian whatever the host:
     "EMBR"  u32 version (1)  u32 entry count
     per entry:  u32 name length, name bytes, u8 kind, then by kind:
       EM_CK_TENSOR   u32 ndim (<= EM_MAX_DIMS), i64 shape[ndim], f32 data[numel] (row-major; 0-d = 1 value)
       EM_CK_NUMBER   f64
       EM_CK_STRING   u32 length, bytes (any bytes: RNG states are binary)
       EM_CK_BOOLEAN  u8 (0 or 1)
       EM_CK_INTEGER  i64 (so counters such as epoch and step come back as Lua integers)
       EM_CK_TABLE    nothing: an empty table, which flattening would otherwise lose
     u32 CRC-32 (zlib's crc32) of every byte before it.
   Names are opaque bytes to the core; the Lua binding encodes key paths in them. */
#ifndef EMBER_CHECKPOINT_H
#define EMBER_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include "tensor.h"

#define EM_CK_VERSION 1

enum { EM_CK_TENSOR = 1, EM_CK_NUMBER = 2, EM_CK_STRING = 3, EM_CK_BOOLEAN = 4, EM_CK_INTEGER = 5,
       EM_CK_TABLE = 6 };

typedef struct em_ck_entry {
  char *name;                     /* name_len bytes; the reader adds a '\0' after them */
  size_t name_len;
  int kind;                       /* EM_CK_* */
  int ndim;                       /* tensor: 0..EM_MAX_DIMS, 0 is a scalar with one value */
  int64_t shape[EM_MAX_DIMS];
  float *data;                    /* tensor: numel values, row-major */
  double number;                  /* EM_CK_NUMBER */
  int64_t integer;                /* EM_CK_INTEGER */
  char *str;                      /* EM_CK_STRING: len bytes; the reader adds a '\0' after them */
  size_t len;
  int boolean;                    /* EM_CK_BOOLEAN: 0 or 1 */
} em_ck_entry;

/* Writes n entries to path through a temporary file beside it + fsync + rename (atomic.h: the temporary
   file never follows a symlink), so a crash leaves the old file or the new one, never a torn one. On error the temporary file is removed, path is untouched, and the
   message is "save: cannot write 'PATH': <reason>". Returns 0 or -1. */
int em_checkpoint_write(const char *path, const em_ck_entry *entries, size_t n);

/* Reads path into a new array of *n entries (free with em_checkpoint_free). Validates magic, version,
   every count and length against the file size, shapes and the CRC before returning anything; errors
   look like "load: 'PATH' is truncated (...)". Returns 0 or -1 (then *entries is NULL, *n is 0). */
int em_checkpoint_read(const char *path, em_ck_entry **entries, size_t *n);

/* The same reader over a buffer in memory (the fuzz target's entry point); label names it in messages. */
int em_checkpoint_read_mem(const void *buf, size_t size, const char *label, em_ck_entry **entries,
                           size_t *n);

/* frees an array returned by a reader, with its names, data and strings; NULL is fine */
void em_checkpoint_free(em_ck_entry *entries, size_t n);

/* a kind's name for messages ("tensor", "number", ...); "unknown" for anything else */
const char *em_ck_kind_name(int kind);
#endif
