/* rng.c - PCG32 (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
   Algorithms for Random Number Generation") with Box-Muller normals: integer-only state, so every
   platform draws the same numbers from the same seed. */
#include <math.h>
#include <string.h>
#include "rng.h"

static em_rng global_rng = {0x853c49e6748fea9bULL, 0xda3e39cb94b95bdbULL};
em_rng *em_rng_global(void) { return &global_rng; }

uint32_t em_rng_u32(em_rng *r) {
  uint64_t old = r->state;
  r->state = old * 6364136223846793005ULL + r->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

void em_rng_seed(em_rng *r, uint64_t seed) {
  r->state = 0;
  r->inc = (seed << 1u) | 1u;   /* the stream follows the seed too */
  em_rng_u32(r);
  r->state += seed ^ 0x9E3779B97F4A7C15ULL;
  em_rng_u32(r);
}

double em_rng_uniform(em_rng *r) {
  uint64_t hi = em_rng_u32(r) >> 5, lo = em_rng_u32(r) >> 6;   /* 27 + 26 = 53 bits */
  return (double)(hi * 67108864.0 + lo) / 9007199254740992.0;
}

double em_rng_normal(em_rng *r) {
  /* Box-Muller; one draw per call keeps the state a pure function of the number of draws */
  double u1 = em_rng_uniform(r), u2 = em_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t em_rng_below(em_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  if (n <= 0xFFFFFFFFu) {   /* Lemire's nearly divisionless rejection */
    uint32_t bound = (uint32_t)n, thresh = (uint32_t)(-bound) % bound;
    for (;;) {
      uint64_t m = (uint64_t)em_rng_u32(r) * bound;
      if ((uint32_t)m >= thresh) return m >> 32;
    }
  }
  for (;;) {
    uint64_t v = ((uint64_t)em_rng_u32(r) << 32) | em_rng_u32(r);
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    if (v < lim) return v % n;
  }
}

static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void em_rng_get_state(const em_rng *r, unsigned char out[EM_RNG_STATE_BYTES]) {
  put64(out, r->state);
  put64(out + 8, r->inc);
}

void em_rng_set_state(em_rng *r, const unsigned char in[EM_RNG_STATE_BYTES]) {
  r->state = get64(in);
  r->inc = get64(in + 8) | 1u;
}

/* fills in row-major order whatever the strides, so a view gets the same numbers as a fresh tensor:
   a contiguous t directly, a strided one through a contiguous buffer */
static int fill_random(em_tensor *t, em_rng *r, int normal, float a, float b) {
  int contiguous = em_is_contiguous(t);
  em_tensor *c = contiguous ? t : em_tensor_new_like(t);
  if (!c) return -1;
  float *d = em_data(c);
  int64_t n = em_numel(t);
  if (normal) for (int64_t i = 0; i < n; i++) d[i] = (float)(a + b * em_rng_normal(r));
  else for (int64_t i = 0; i < n; i++) d[i] = (float)(a + (b - a) * em_rng_uniform(r));
  if (contiguous) return 0;
  int rc = em_tensor_copy_(t, c);
  em_tensor_release(c);
  return rc;
}

int em_tensor_uniform_(em_tensor *t, em_rng *r, float lo, float hi) { return fill_random(t, r, 0, lo, hi); }
int em_tensor_normal_(em_tensor *t, em_rng *r, float mean, float std) { return fill_random(t, r, 1, mean, std); }

void em_rng_permutation(em_rng *r, int64_t n, int64_t *out) {
  for (int64_t i = 0; i < n; i++) out[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)em_rng_below(r, (uint64_t)i + 1);
    int64_t tmp = out[i]; out[i] = out[j]; out[j] = tmp;
  }
}
