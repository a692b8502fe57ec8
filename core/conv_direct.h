/* conv_direct.h - direct 2-d convolution with the images of a batch in the lanes of vector registers
   (conv_direct.c), for the small kernels on few channels where im2col's per-image GEMMs are tiny.
   Runs where the CPU has AVX-512 or AVX2 with FMA (checked at run time); conv.c falls back to im2col
   + GEMM elsewhere and for the shapes these kernels do not take. */
#ifndef EMBER_CONV_DIRECT_H
#define EMBER_CONV_DIRECT_H
#include "nn.h"

/* the instruction set the direct kernels use: "avx512", "avx2", or NULL when this CPU has neither.
   em_conv_direct_use("avx2") picks a narrower set than the best one (for tests; NULL: the best);
   returns -1 when this CPU lacks it. */
const char *em_conv_direct_isa(void);
int em_conv_direct_use(const char *isa);
/* images per vector: 16 (avx512), 8 (avx2), 0 (none) */
int em_conv_direct_lanes(void);

/* whether the direct kernels take g: stride 1, a kernel of more than one tap, padding within the
   dilated kernel, and a batch of at least half a vector of images */
int em_conv_direct_fits(const em_conv2d_geom *g);

/* as em_conv2d_forward and em_conv2d_backward, on ember's pool, except that backward writes dinp
   whole rather than adding to it (dw and db are added to; any of the three may be NULL). Weight and bias gradients are summed per group of images and the groups added
   in order: the same bits at every thread count. 0, or -1 with em_error set when out of memory. */
int em_conv_direct_forward(float *out, const float *inp, const float *w, const float *b, const em_conv2d_geom *g);
int em_conv_direct_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const em_conv2d_geom *g);
#endif
