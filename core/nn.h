/* nn.h - the kernels behind ember.nn's layers: linear, 2-d convolution, max/avg pooling, batch
   normalisation and dropout, as differentiable ops (em_linear, em_conv2d, ...) over raw float kernels
   (em_conv2d_forward/_backward, ...). Layouts are PyTorch's: images NCHW, conv weights
   (Cout, Cin, kh, kw), linear weights (out, in). Raw backward kernels accumulate (dinp[i] += ...);
   zeroing is the caller's job. The ops return a new reference or NULL with em_error() set. */
#ifndef EMBER_NN_H
#define EMBER_NN_H
#include "tensor.h"
#include "rng.h"

/* ---- geometry shared by convolution and pooling ---- */

/* the output size of a sliding window along one axis, as PyTorch documents it for Conv2d/MaxPool2d:
   floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, or ceil(...) with ceil_mode, in which case a
   last window that would start inside the right padding is dropped. <= 0 when the input is too small. */
int64_t em_window_out(int64_t in, int k, int stride, int pad, int dil, int ceil_mode);

typedef struct em_conv2d_geom {
  int n, cin, h, w;          /* input (N, Cin, H, W) */
  int cout, kh, kw;          /* weight (Cout, Cin / groups, kh, kw) */
  int sh, sw, ph, pw, dh, dw;/* stride, zero padding (top and bottom, left and right), dilation */
  int oh, ow;                /* output (N, Cout, oh, ow) */
  int eh, ew;                /* extra zero padding at the bottom and the right (PyTorch's padding "same"
                                with an even dilated kernel pads one more there than at the top and left) */
  int groups;                /* output channel block c sees input channel block c only (0 means 1) */
} em_conv2d_geom;

/* g->groups, at least 1 */
static inline int em_conv2d_groups(const em_conv2d_geom *g) { return g->groups > 1 ? g->groups : 1; }

/* ---- raw kernels (contiguous float arrays) ---- */

/* col is (Cin * kh * kw, oh * ow): row (c, i, j) holds the input pixel each output position sees
   through kernel tap (i, j) of channel c, 0 in the padding. img is (Cin, H, W), one image. */
void em_im2col(float *col, const float *img, const em_conv2d_geom *g);
/* the adjoint of im2col: img[...] += every col entry that was read from it */
void em_col2im(float *img, const float *col, const em_conv2d_geom *g);

/* floats of scratch the kernels below need for one image (backward != 0: for em_conv2d_backward) */
int64_t em_conv2d_scratch(const em_conv2d_geom *g, int backward);

/* out (N, Cout, oh, ow) = conv(inp (N, Cin, H, W), w (Cout, Cin, kh, kw)) + b (Cout) (b may be NULL).
   col is scratch of em_conv2d_scratch(g, 0) floats. */
void em_conv2d_forward(float *out, const float *inp, const float *w, const float *b, const em_conv2d_geom *g,
                       float *col);
/* accumulates dinp (N, Cin, H, W), dw (Cout, Cin, kh, kw), db (Cout); any of them may be NULL.
   col is scratch of em_conv2d_scratch(g, 1) floats. */
void em_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const em_conv2d_geom *g, float *col);

/* which kernels convolutions use: "auto" (the direct kernels of conv_direct.h where they fit, else
   im2col + GEMM), "im2col" (always), "direct-avx2" (auto, with the AVX2 kernels even where the CPU
   has AVX-512: for tests). -1 + em_error for an unknown name or kernels this CPU lacks. */
int em_conv2d_set_kernel(const char *name);
/* the choice in words, for ember.blas() and meta.tsv: "direct avx512 (16 images per vector) for
   stride 1, else im2col + sgemm" */
const char *em_conv2d_kernel(void);

typedef struct em_pool2d_geom {
  int planes, h, w;          /* input (planes = N * C, H, W) */
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int oh, ow;
  int count_include_pad;     /* avg pooling: divide by the padded window size (PyTorch's default) */
} em_pool2d_geom;

/* out (planes, oh, ow) = max over each window; idx (planes, oh, ow) = the winner's offset h * W + w in
   its input plane (the first maximum; a NaN wins, as in PyTorch), or -1 for a window that lies wholly
   in the padding (possible only with dilation; its output is -inf). One pass over the input. */
void em_maxpool2d_forward(float *out, int32_t *idx, const float *inp, const em_pool2d_geom *g);
/* dinp[plane, idx] += dout: the gradient goes to the saved winners */
void em_maxpool2d_backward(float *dinp, const float *dout, const int32_t *idx, const em_pool2d_geom *g);
void em_avgpool2d_forward(float *out, const float *inp, const em_pool2d_geom *g);
void em_avgpool2d_backward(float *dinp, const float *dout, const em_pool2d_geom *g);

/* ---- differentiable ops ---- */

/* y = x w^T + b: x (*, in), w (out, in), b (out) or NULL; y (*, out). As torch.nn.functional.linear. */
em_tensor *em_linear(em_tensor *x, em_tensor *w, em_tensor *b);

/* padding is on both sides; pad_extra adds to the bottom and right only; groups 0 means 1 */
typedef struct em_conv2d_opts { int stride[2], padding[2], dilation[2], pad_extra[2], groups; } em_conv2d_opts;
/* x (N, Cin, H, W), w (Cout, Cin / groups, kh, kw), b (Cout) or NULL -> (N, Cout, oh, ow). With groups G,
   Cin and Cout split into G blocks, and output block c is the convolution of input block c with its
   weights (G = Cin = Cout: depthwise), as torch.nn.functional.conv2d. */
em_tensor *em_conv2d(em_tensor *x, em_tensor *w, em_tensor *b, const em_conv2d_opts *o);

typedef struct em_pool2d_opts {
  int kernel[2], stride[2], padding[2], dilation[2];
  int ceil_mode, count_include_pad;
} em_pool2d_opts;
/* x (N, C, H, W) or (C, H, W) -> same rank; padding counts as -inf (max) or 0 (avg) */
em_tensor *em_max_pool2d(em_tensor *x, const em_pool2d_opts *o);
em_tensor *em_avg_pool2d(em_tensor *x, const em_pool2d_opts *o);

/* Batch normalisation (Ioffe & Szegedy 2015, arXiv:1502.03167) over x (N, C, *): statistics per
   channel over N and the trailing dims. training: normalise by the batch mean and biased variance and,
   when running_mean/var are given, update them in place as
   running = (1 - momentum) running + momentum batch_stat (unbiased variance), as PyTorch does.
   Otherwise normalise by the running statistics. weight/bias (C) may be NULL (affine = false). */
em_tensor *em_batch_norm(em_tensor *x, em_tensor *weight, em_tensor *bias, em_tensor *running_mean,
                         em_tensor *running_var, int training, float momentum, float eps);

/* inverted dropout (Srivastava et al. 2014): each element is kept with probability 1 - p and scaled by
   1 / (1 - p), so eval needs no rescaling. The mask comes from r. p in [0, 1]. */
em_tensor *em_dropout(em_tensor *x, float p, em_rng *r);

#endif
