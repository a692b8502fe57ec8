/* peak.c - this core's float32 FMA peak in GFLOP/s, so that bench/run.lua can say how close sgemm and
   the LeNet epoch get to what the hardware can do (the targets of issue 10 assumed a Xeon with a
   172 GFLOP/s core; this machine may differ). Twelve independent accumulators hide the FMA latency;
   GCC vector extensions take the widest vectors -march=native allows (AVX-512 where present).
   Build: cc -O2 -march=native bench/peak.c -o peak. Prints result lines like the benchmarks. */
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
typedef float vec __attribute__((vector_size(LANES * 4)));

#define ITERS 15000000L   /* about 0.1 s: short runs are likelier to find the core undisturbed */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ITERS rounds of 12 FMAs on LANES floats; returns a value that depends on all of them, so none is dropped */
static float spin(void) {
  vec b, c, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  for (int i = 0; i < LANES; i++) {
    b[i] = 1.0000001f; c[i] = 1e-7f;
    a0[i] = 0; a1[i] = 1; a2[i] = 2; a3[i] = 3; a4[i] = 4; a5[i] = 5;
    a6[i] = 6; a7[i] = 7; a8[i] = 8; a9[i] = 9; a10[i] = 10; a11[i] = 11;
  }
  for (long k = 0; k < ITERS; k++) {
    a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
    a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
    a8 = a8 * b + c; a9 = a9 * b + c; a10 = a10 * b + c; a11 = a11 * b + c;
  }
  vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  float r = 0;
  for (int i = 0; i < LANES; i++) r += s[i];
  return r;
}

int main(void) {
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 10; rep++) {   /* a peak is a maximum: the best of ten, as other processes interfere */
    double t0 = now();
    sink += spin();
    double g = (double)ITERS * 12 * LANES * 2 / (now() - t0) / 1e9;
    if (g > best) best = g;
  }
  printf("result\tlanes\t%d\nresult\tpeak_gflops\t%.1f\nresult\tsink\t%g\n", LANES, best, (double)sink);
  return 0;
}
