/* fuzz_common.h - what the fuzz targets share: the input as a real file (a memfd, so the parsers run
   their gzopen path exactly as on disk), optionally gzip-compressed first so that every mutation also
   reaches the parsers through zlib's inflate. */
#ifndef EMBER_FUZZ_COMMON_H
#define EMBER_FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* writes data (gzipped when gz) to a memfd that lives for the whole run; returns its /proc path */
static const char *fuzz_file(const uint8_t *data, size_t size, int gz) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("ember-fuzz", 0);
    if (fd < 0) { perror("memfd_create"); abort(); }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) abort();
  if (gz) {
    /* one deflate state for the whole run: making one per input (256 KiB, mapped and unmapped under
       ASan) cost more than the parsing */
    static z_stream z;
    static int ready;
    static unsigned char *out;
    static uLong outcap;
    if (!ready) {
      if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
      ready = 1;
    } else if (deflateReset(&z) != Z_OK) abort();
    uLong cap = deflateBound(&z, (uLong)size) + 32;
    if (cap > outcap) {
      free(out);
      if (!(out = malloc(cap))) abort();
      outcap = cap;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t n = cap - z.avail_out;
    if (n && pwrite(fd, out, n, 0) != (ssize_t)n) abort();
  } else if (size && pwrite(fd, data, size, 0) != (ssize_t)size) {
    abort();
  }
  return path;
}
#endif
