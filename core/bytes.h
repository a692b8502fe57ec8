/* bytes.h - little-endian integers and float32s in byte buffers, the same bytes on any host: the byte
   order of every file ember writes and reads (checkpoint.c, safetensors.c, npz.c). */
#ifndef EMBER_BYTES_H
#define EMBER_BYTES_H
#include <stddef.h>
#include <stdint.h>

static inline void em_put_le16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static inline void em_put_le32(unsigned char *p, uint32_t v) { em_put_le16(p, v); em_put_le16(p + 2, v >> 16); }
static inline void em_put_le64(unsigned char *p, uint64_t v) { em_put_le32(p, (uint32_t)v); em_put_le32(p + 4, (uint32_t)(v >> 32)); }
static inline uint32_t em_get_le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t em_get_le32(const unsigned char *p) { return em_get_le16(p) | em_get_le16(p + 2) << 16; }
static inline uint64_t em_get_le64(const unsigned char *p) { return (uint64_t)em_get_le32(p) | (uint64_t)em_get_le32(p + 4) << 32; }

/* the float32 bytes of the n floats at x, little-endian, fed to fn(ctx, bytes, len) in pieces of at most
   16 KiB (so a tensor of any size goes out through a small buffer) */
void em_float_bytes_le(const float *x, int64_t n, void (*fn)(void *ctx, const unsigned char *p, size_t len),
                       void *ctx);
#endif
