/* rng.h - ember's seeded, portable random numbers (PCG32 stream; normals by Box-Muller), so that
   ember.manual_seed(s) gives the same numbers on every machine. State can be saved and restored. */
#ifndef EMBER_RNG_H
#define EMBER_RNG_H
#include <stdint.h>
#include "tensor.h"

typedef struct em_rng { uint64_t state, inc; } em_rng;
#define EM_RNG_STATE_BYTES 16

em_rng *em_rng_global(void);
void em_rng_seed(em_rng *r, uint64_t seed);
uint32_t em_rng_u32(em_rng *r);
double em_rng_uniform(em_rng *r);             /* [0, 1), 53 random bits */
double em_rng_normal(em_rng *r);              /* standard normal */
uint64_t em_rng_below(em_rng *r, uint64_t n); /* uniform integer in [0, n), unbiased */
void em_rng_get_state(const em_rng *r, unsigned char out[EM_RNG_STATE_BYTES]);
void em_rng_set_state(em_rng *r, const unsigned char in[EM_RNG_STATE_BYTES]);

/* fill t in place in row-major order; -1 + em_error when a strided t needs a buffer that cannot be had */
int em_tensor_uniform_(em_tensor *t, em_rng *r, float lo, float hi);
int em_tensor_normal_(em_tensor *t, em_rng *r, float mean, float std);
/* a permutation of 0..n-1 (Fisher-Yates), for shuffling */
void em_rng_permutation(em_rng *r, int64_t n, int64_t *out);
#endif
