/* conv.c - 2-d convolution (cross-correlation, as torch.nn.Conv2d defines it) by im2col + GEMM, one
   image at a time so the column matrix and the GEMM operands stay in cache, and its backward pass.
   Reference: Chellapilla, Puri & Simard 2006, "High Performance Convolutional Neural Networks for
   Document Processing" (unrolling convolutions into matrix products); output size as PyTorch's Conv2d doc. */
#include <stdio.h>
#include <stdlib.h>
/* keep the short-row copy loops below as loops: GCC otherwise turns them into memmove calls */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif
#include <string.h>
#include "nn.h"
#include "ops.h"
#include "autograd.h"
#include "blas.h"
#include "conv_direct.h"
#include "parallel.h"

int64_t em_window_out(int64_t in, int k, int stride, int pad, int dil, int ceil_mode) {
  int64_t span = in + 2 * (int64_t)pad - (int64_t)dil * (k - 1) - 1;
  if (span < 0 || stride <= 0) return 0;
  int64_t out = (ceil_mode ? span + stride - 1 : span) / stride + 1;
  /* with ceil_mode the last window must start inside the input or its left padding */
  if (ceil_mode && (out - 1) * stride >= in + pad) out--;
  return out;
}

/* the range [lo, hi) of output columns whose tap at input offset x0 + ow * s falls inside [0, W) */
static void valid_range(int x0, int s, int W, int OW, int *lo, int *hi) {
  int l = x0 >= 0 ? 0 : (-x0 + s - 1) / s;
  int h = W - x0 <= 0 ? 0 : (W - x0 + s - 1) / s;
  if (l > OW) l = OW;
  if (h > OW) h = OW;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
}

/* n floats from s to r. Rows here are short (8 to 24 floats in LeNet): compilers turn a plain copy
   loop into a memcpy call, whose overhead was 45% of im2col, and scalar moves store 4 bytes at a time.
   8-float vector moves (GCC vector extension; unaligned, two SSE moves on CPUs without AVX) copy a
   24-float row in three. */
typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));

static inline void copy_short(float *restrict r, const float *restrict s, int n) {
  int k = 0;
  for (; k + 8 <= n; k += 8) *(v8f *)(r + k) = *(const v8f *)(s + k);
  for (; k < n; k++) r[k] = s[k];
}

/* r[k] += s[k] for n floats, the same way */
static inline void add_short(float *restrict r, const float *restrict s, int n) {
  int k = 0;
  for (; k + 8 <= n; k += 8) *(v8f *)(r + k) += *(const v8f *)(s + k);
  for (; k < n; k++) r[k] += s[k];
}

/* where kernel tap (i, j) falls inside the image: output rows [r0, r1) and columns [lo, hi) */
typedef struct { int r0, r1, lo, hi, y0, x0; } tap_range;

static tap_range tap_of(const em_conv2d_geom *g, int i, int j) {
  tap_range t;
  t.y0 = i * g->dh - g->ph;
  t.x0 = j * g->dw - g->pw;
  valid_range(t.y0, g->sh, g->h, g->oh, &t.r0, &t.r1);
  valid_range(t.x0, g->sw, g->w, g->ow, &t.lo, &t.hi);
  return t;
}

/* one tap of one channel: row[oh * OW + ow] = plane[(y0 + oh sh) W + x0 + ow sw], 0 outside the image */
static void im2col_tap(float *restrict row, const float *restrict plane, const em_conv2d_geom *g, const tap_range *t) {
  const int W = g->w, OH = g->oh, OW = g->ow, sh = g->sh, sw = g->sw, lo = t->lo, hi = t->hi;
  if (t->r0 > 0) memset(row, 0, (size_t)t->r0 * OW * sizeof(float));
  if (t->r1 < OH) memset(row + (int64_t)t->r1 * OW, 0, (size_t)(OH - t->r1) * OW * sizeof(float));
  const float *src = plane + (int64_t)t->y0 * W + t->x0;
  for (int oh = t->r0; oh < t->r1; oh++) {
    float *restrict r = row + (int64_t)oh * OW;
    const float *restrict s = src + (int64_t)oh * sh * W;
    for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
    if (sw == 1) copy_short(r + lo, s + lo, hi - lo);
    else for (int ow = lo; ow < hi; ow++) r[ow] = s[(int64_t)ow * sw];
    for (int ow = hi; ow < OW; ow++) r[ow] = 0.0f;
  }
}

/* the ranges of all kh kw taps (NULL when out of memory: callers then compute them as they go) */
static tap_range *taps_new(const em_conv2d_geom *g) {
  tap_range *t = malloc((size_t)g->kh * g->kw * sizeof *t);
  if (t)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++) t[i * g->kw + j] = tap_of(g, i, j);
  return t;
}

/* taps outermost, so a tap's range is found once per image (or once per call with a table) */
static void im2col_taps(float *col, const float *img, const em_conv2d_geom *g, const tap_range *taps) {
  const int64_t P = (int64_t)g->oh * g->ow, plane = (int64_t)g->h * g->w, K1 = (int64_t)g->kh * g->kw;
  for (int i = 0; i < g->kh; i++)
    for (int j = 0; j < g->kw; j++) {
      tap_range t = taps ? taps[i * g->kw + j] : tap_of(g, i, j);
      for (int c = 0; c < g->cin; c++) im2col_tap(col + (c * K1 + i * g->kw + j) * P, img + c * plane, g, &t);
    }
}

void em_im2col(float *col, const float *img, const em_conv2d_geom *g) { im2col_taps(col, img, g, NULL); }

/* the adjoint of im2col_tap: plane[...] += row[oh * OW + ow] over the taps inside the image */
static void col2im_tap(float *restrict plane, const float *restrict row, const em_conv2d_geom *g, const tap_range *t) {
  const int W = g->w, OW = g->ow, sh = g->sh, sw = g->sw, lo = t->lo, hi = t->hi;
  float *dst = plane + (int64_t)t->y0 * W + t->x0;
  for (int oh = t->r0; oh < t->r1; oh++) {
    const float *restrict r = row + (int64_t)oh * OW;
    float *restrict d = dst + (int64_t)oh * sh * W;
    if (sw == 1) add_short(d + lo, r + lo, hi - lo);
    else for (int ow = lo; ow < hi; ow++) d[(int64_t)ow * sw] += r[ow];
  }
}

static void col2im_taps(float *img, const float *col, const em_conv2d_geom *g, const tap_range *taps) {
  const int64_t P = (int64_t)g->oh * g->ow, plane = (int64_t)g->h * g->w, K1 = (int64_t)g->kh * g->kw;
  for (int i = 0; i < g->kh; i++)
    for (int j = 0; j < g->kw; j++) {
      tap_range t = taps ? taps[i * g->kw + j] : tap_of(g, i, j);
      for (int c = 0; c < g->cin; c++) col2im_tap(img + c * plane, col + (c * K1 + i * g->kw + j) * P, g, &t);
    }
}

void em_col2im(float *img, const float *col, const em_conv2d_geom *g) { col2im_taps(img, col, g, NULL); }

/* sum of n floats in 8 independent partial sums: a single running sum is one long chain of dependent
   additions (4 cycles each), which made the bias gradient cost as much as a GEMM */
static float sum_row(const float *x, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += x[k + j];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; k < n; k++) s += x[k];
  return s;
}

/* a 1x1 kernel with stride 1 and no padding reads the image as it is: no im2col needed */
static int is_pointwise(const em_conv2d_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->eh == 0 && g->ew == 0;
}

/* The "wide" layout, for stride 1, no padding, no dilation: compute output rows as wide as the input
   (W columns, the last W - OW of each row garbage) over L = (OH - 1) W + OW positions. Then the column
   matrix row of tap (c, i, j) is one contiguous slice of the image, img[c][i][j .. j + L), so im2col is
   Cin kh kw long copies instead of Cin kh kw OH short ones (the short rows were a third of a LeNet step)
   and col2im is as many long adds. The GEMMs grow by W / OW, so it is used where OW >= 3/4 W. */
static int use_wide(const em_conv2d_geom *g) {
  return g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->eh == 0 && g->ew == 0 && g->dh == 1 &&
         g->dw == 1 && !is_pointwise(g) && 3 * g->ow >= 2 * g->w;
}

static int64_t wide_len(const em_conv2d_geom *g) { return (int64_t)(g->oh - 1) * g->w + g->ow; }

int64_t em_conv2d_scratch(const em_conv2d_geom *g, int backward) {
  const int64_t K = (int64_t)g->cin * g->kh * g->kw, P = (int64_t)g->oh * g->ow;
  if (use_wide(g)) {
    const int64_t L = wide_len(g);
    return (backward ? 2 * K * L : K * L) + (int64_t)g->cout * L;
  }
  return backward ? 2 * K * P : K * P;
}

static void im2col_wide(float *col, const float *img, const em_conv2d_geom *g, int64_t L) {
  const int64_t plane = (int64_t)g->h * g->w;
  for (int c = 0; c < g->cin; c++)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++)
        memcpy(col + (((int64_t)c * g->kh + i) * g->kw + j) * L, img + c * plane + (int64_t)i * g->w + j,
               (size_t)L * sizeof(float));
}

static void col2im_wide(float *img, const float *col, const em_conv2d_geom *g, int64_t L) {
  const int64_t plane = (int64_t)g->h * g->w;
  for (int c = 0; c < g->cin; c++)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++) {
        float *restrict d = img + c * plane + (int64_t)i * g->w + j;
        const float *restrict r = col + (((int64_t)c * g->kh + i) * g->kw + j) * L;
        for (int64_t k = 0; k < L; k++) d[k] += r[k];
      }
}

/* one image, wide layout: out (Cout, P) from x (Cin, H, W); scratch holds col (K, L) and the wide
   output (Cout, L) */
static void forward_wide(float *y, const float *x, const float *w, const float *b, const em_conv2d_geom *g,
                         float *scratch) {
  const int K = g->cin * g->kh * g->kw, OW = g->ow, W = g->w;
  const int64_t L = wide_len(g), P = (int64_t)g->oh * OW;
  float *col = scratch, *yw = scratch + (int64_t)K * L;
  im2col_wide(col, x, g, L);
  em_sgemm(0, 0, g->cout, (int)L, K, 1.0f, w, K, col, (int)L, 0.0f, yw, (int)L);
  for (int co = 0; co < g->cout; co++) {
    const float bias = b ? b[co] : 0.0f;
    for (int oh = 0; oh < g->oh; oh++) {
      const float *src = yw + co * L + (int64_t)oh * W;
      float *dst = y + co * P + (int64_t)oh * OW;
      for (int ow = 0; ow < OW; ow++) dst[ow] = src[ow] + bias;
    }
  }
}

/* one image, wide layout: go (Cout, P) spread into gw (Cout, L) with zeros in the garbage columns, so
   they add nothing to dw and dcol */
static void backward_wide(float *dx, float *dw, const float *go, const float *x, const float *w,
                          const em_conv2d_geom *g, float *scratch) {
  const int K = g->cin * g->kh * g->kw, OW = g->ow, W = g->w;
  const int64_t L = wide_len(g), P = (int64_t)g->oh * OW;
  float *col = scratch, *dcol = scratch + (int64_t)K * L, *gw = dcol + (int64_t)K * L;
  for (int co = 0; co < g->cout; co++)
    for (int oh = 0; oh < g->oh; oh++) {
      float *dst = gw + co * L + (int64_t)oh * W;
      const float *src = go + co * P + (int64_t)oh * OW;
      for (int ow = 0; ow < OW; ow++) dst[ow] = src[ow];
      if (oh + 1 < g->oh) for (int ow = OW; ow < W; ow++) dst[ow] = 0.0f;
    }
  if (dw) {
    im2col_wide(col, x, g, L);
    em_sgemm(0, 1, g->cout, K, (int)L, 1.0f, gw, (int)L, col, (int)L, 1.0f, dw, K);
  }
  if (dx) {
    em_sgemm(1, 0, K, (int)L, g->cout, 1.0f, w, K, gw, (int)L, 0.0f, dcol, (int)L);
    col2im_wide(dx, dcol, g, L);
  }
}

/* the geometry of one channel group as a convolution of its own (groups 1) */
static em_conv2d_geom group_geom(const em_conv2d_geom *g) {
  em_conv2d_geom gg = *g;
  gg.cin = g->cin / em_conv2d_groups(g);
  gg.cout = g->cout / em_conv2d_groups(g);
  gg.groups = 1;
  return gg;
}

/* per image and channel group (gg: one group's geometry):
   out_n (Cout, P) = W (Cout, K) col_n (K, P) + b, with K = Cin kh kw and P = oh ow */
void em_conv2d_forward(float *out, const float *inp, const float *w, const float *b, const em_conv2d_geom *g,
                       float *col) {
  const em_conv2d_geom gg = group_geom(g);
  const int G = em_conv2d_groups(g), K = gg.cin * g->kh * g->kw, P = g->oh * g->ow;
  const int64_t plane = (int64_t)g->h * g->w, in_sz = g->cin * plane, out_sz = (int64_t)g->cout * P;
  const int pointwise = is_pointwise(g), wide = use_wide(g);
  tap_range *taps = pointwise || wide ? NULL : taps_new(&gg);
  for (int n = 0; n < g->n; n++)
    for (int gi = 0; gi < G; gi++) {
      const float *x = inp + n * in_sz + gi * gg.cin * plane, *wg = w + (int64_t)gi * gg.cout * K;
      const float *bg = b ? b + gi * gg.cout : NULL;
      float *y = out + n * out_sz + (int64_t)gi * gg.cout * P;
      if (wide) { forward_wide(y, x, wg, bg, &gg, col); continue; }
      const float *c = x;
      if (!pointwise) { im2col_taps(col, x, &gg, taps); c = col; }
      if (bg)
        for (int co = 0; co < gg.cout; co++) {
          float v = bg[co], *yr = y + (int64_t)co * P;
          for (int p = 0; p < P; p++) yr[p] = v;
        }
      em_sgemm(0, 0, gg.cout, P, K, 1.0f, wg, K, c, P, bg ? 1.0f : 0.0f, y, P);
    }
  free(taps);
}

/* per image and channel group (g_n = dout_n, (Cout, P)):
     db += row sums of g_n;  dW (Cout, K) += g_n col_n^T;  dcol (K, P) = W^T g_n, dinp_n += col2im(dcol) */
void em_conv2d_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        const em_conv2d_geom *g, float *col) {
  const em_conv2d_geom gg = group_geom(g);
  const int G = em_conv2d_groups(g), K = gg.cin * g->kh * g->kw, P = g->oh * g->ow;
  const int64_t plane = (int64_t)g->h * g->w, in_sz = g->cin * plane, out_sz = (int64_t)g->cout * P;
  const int pointwise = is_pointwise(g), wide = use_wide(g);
  float *dcol = dw ? col + (int64_t)K * P : col;
  tap_range *taps = pointwise || wide ? NULL : taps_new(&gg);
  for (int n = 0; n < g->n; n++) {
    if (db)
      for (int co = 0; co < g->cout; co++) db[co] += sum_row(dout + n * out_sz + (int64_t)co * P, P);
    for (int gi = 0; gi < G; gi++) {
      const float *go = dout + n * out_sz + (int64_t)gi * gg.cout * P, *wg = w + (int64_t)gi * gg.cout * K;
      const float *x = inp + n * in_sz + gi * gg.cin * plane;
      float *dwg = dw ? dw + (int64_t)gi * gg.cout * K : NULL;
      float *dx = dinp ? dinp + n * in_sz + gi * gg.cin * plane : NULL;
      if (wide) {
        if (dwg || dx) backward_wide(dx, dwg, go, x, wg, &gg, col);
        continue;
      }
      if (dwg) {
        const float *c = x;
        if (!pointwise) { im2col_taps(col, c, &gg, taps); c = col; }
        em_sgemm(0, 1, gg.cout, K, P, 1.0f, go, P, c, P, 1.0f, dwg, K);
      }
      if (dx) {
        if (pointwise) em_sgemm(1, 0, K, P, gg.cout, 1.0f, wg, K, go, P, 1.0f, dx, P);
        else {
          em_sgemm(1, 0, K, P, gg.cout, 1.0f, wg, K, go, P, 0.0f, dcol, P);
          col2im_taps(dx, dcol, &gg, taps);
        }
      }
    }
  }
  free(taps);
}

/* ---- parallel drivers: images split over ember's workers ---- */

typedef struct {
  em_conv2d_geom g;
  const float *inp, *w, *b, *dout;
  float *out, *dinp, *dw, *db;
  float *scratch, *part;   /* per worker: col scratch; per chunk: its partial dw, db */
  int64_t scratch_per, dw_n, db_n, per_chunk;
} conv_job;

static void forward_range(void *p, int64_t b, int64_t e, int worker) {
  conv_job *j = p;
  em_conv2d_geom g = j->g;
  const int64_t in_sz = (int64_t)g.cin * g.h * g.w, out_sz = (int64_t)g.cout * g.oh * g.ow;
  g.n = (int)(e - b);
  em_conv2d_forward(j->out + b * out_sz, j->inp + b * in_sz, j->w, j->b, &g, j->scratch + worker * j->scratch_per);
}

/* one chunk of images: its input gradients in place, its share of dw and db into its own partial */
static void backward_chunk(void *p, int64_t chunk, int worker) {
  conv_job *j = p;
  em_conv2d_geom g = j->g;
  const int64_t in_sz = (int64_t)g.cin * g.h * g.w, out_sz = (int64_t)g.cout * g.oh * g.ow;
  const int64_t b = chunk * j->per_chunk, e = b + j->per_chunk < g.n ? b + j->per_chunk : g.n;
  float *part = j->part + chunk * (j->dw_n + j->db_n);
  memset(part, 0, (size_t)(j->dw_n + j->db_n) * sizeof(float));
  if (j->dinp) memset(j->dinp + b * in_sz, 0, (size_t)((e - b) * in_sz) * sizeof(float));   /* the kernels add */
  g.n = (int)(e - b);
  em_conv2d_backward(j->dinp ? j->dinp + b * in_sz : NULL, j->dw ? part : NULL, j->db ? part + j->dw_n : NULL,
                     j->dout + b * out_sz, j->inp + b * in_sz, j->w, &g, j->scratch + worker * j->scratch_per);
}

/* Scratch for the drivers, kept between calls: a training step asks for the same sizes every time,
   and fresh buffers of this size come from mmap, whose page faults were ~2.5% of a LeNet step.
   Per calling thread; the workers get slices of it. */
static float *scratch_get(int64_t n) {
  static __thread float *buf;
  static __thread int64_t cap;
  if (n > cap) {
    float *p = realloc(buf, (size_t)n * sizeof(float));
    if (!p) return NULL;
    buf = p;
    cap = n;
  }
  return buf;
}

/* a worker needs at least a couple of images to be worth waking */
static int64_t image_grain(const em_conv2d_geom *g) {
  int64_t work = (int64_t)g->cout * g->cin * g->kh * g->kw * g->oh * g->ow;
  return work >= (1 << 18) ? 1 : work >= (1 << 14) ? 2 : 8;
}

/* ---- the choice of kernels ---- */

static enum { KERNEL_AUTO, KERNEL_IM2COL } kernel_choice;

int em_conv2d_set_kernel(const char *name) {
  if (!strcmp(name, "auto") || !strcmp(name, "direct")) { kernel_choice = KERNEL_AUTO; return em_conv_direct_use(NULL); }
  if (!strcmp(name, "im2col")) { kernel_choice = KERNEL_IM2COL; return 0; }
  if (!strcmp(name, "direct-avx2")) {
    kernel_choice = KERNEL_AUTO;
    if (!em_conv_direct_use("avx2")) return 0;
    return em_fail("set_conv_kernel: \"direct-avx2\" needs a CPU with AVX2 and FMA");
  }
  return em_fail("set_conv_kernel: expected \"auto\", \"im2col\" or \"direct-avx2\" (got \"%s\")", name);
}

const char *em_conv2d_kernel(void) {
  static char desc[160];
  const char *isa = em_conv_direct_isa();
  if (kernel_choice == KERNEL_IM2COL || !isa)
    snprintf(desc, sizeof desc, "im2col + sgemm%s", kernel_choice == KERNEL_IM2COL ? " (forced)" : " (no AVX2/AVX-512)");
  else
    snprintf(desc, sizeof desc, "direct %s (%d images per vector) for stride 1, else im2col + sgemm", isa,
             em_conv_direct_lanes());
  return desc;
}

static int use_direct(const em_conv2d_geom *g) { return kernel_choice == KERNEL_AUTO && em_conv_direct_fits(g); }

static int conv_forward_parallel(float *out, const float *inp, const float *w, const float *b, const em_conv2d_geom *g) {
  if (use_direct(g)) return em_conv_direct_forward(out, inp, w, b, g);
  conv_job j = {.g = *g, .inp = inp, .w = w, .b = b, .out = out};
  int workers = em_parallel_workers();
  j.scratch_per = em_conv2d_scratch(g, 0) + 16;
  j.scratch = scratch_get(workers * j.scratch_per);
  if (!j.scratch) return em_fail("conv2d: out of memory");
  em_parallel_for(g->n, image_grain(g), forward_range, &j);
  return 0;
}

/* dinp is written whole (its chunk's images zeroed, then accumulated); dw and db are added to.
   The images are cut into at most 32 chunks of at least image_grain images, fixed by the shape; dw and
   db are summed per chunk and the chunks added in order, so every thread count gives the same bits. */
#define MAX_IMAGE_CHUNKS 32
static int conv_backward_parallel(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                  const float *w, const em_conv2d_geom *g) {
  if (use_direct(g)) return em_conv_direct_backward(dinp, dw, db, dout, inp, w, g);
  conv_job j = {.g = *g, .inp = inp, .w = w, .dout = dout, .dinp = dinp, .dw = dw, .db = db};
  int workers = em_parallel_workers();
  int64_t per = (g->n + MAX_IMAGE_CHUNKS - 1) / MAX_IMAGE_CHUNKS, grain = image_grain(g);
  j.per_chunk = per > grain ? per : grain;
  const int64_t chunks = (g->n + j.per_chunk - 1) / j.per_chunk;
  j.scratch_per = em_conv2d_scratch(g, 1) + 16;
  j.dw_n = dw ? (int64_t)g->cout * (g->cin / em_conv2d_groups(g)) * g->kh * g->kw : 0;   /* the weight's size */
  j.db_n = db ? g->cout : 0;
  /* one buffer: the workers' column scratch, then the chunks' partials of dw and db */
  float *buf = scratch_get(workers * j.scratch_per + chunks * (j.dw_n + j.db_n));
  if (!buf) return em_fail("conv2d backward: out of memory");
  j.scratch = buf;
  j.part = buf + workers * j.scratch_per;
  em_parallel_chunks(chunks, backward_chunk, &j);
  if (dw) em_sum_chunks(dw, j.part, chunks, j.dw_n + j.db_n, j.dw_n);
  if (db) em_sum_chunks(db, j.part + j.dw_n, chunks, j.dw_n + j.db_n, j.db_n);
  return 0;
}

/* ---- the differentiable op ---- */

/* the node's state is the geometry */
static int conv2d_backward(em_node *nd, em_tensor *gout) {
  const em_conv2d_geom g = *(const em_conv2d_geom *)em_node_state(nd);
  em_tensor *x = nd->inputs[0], *w = nd->inputs[1], *b = nd->inputs[2];
  int want_x = x->requires_grad, want_w = w->requires_grad, want_b = b && b->requires_grad;
  em_tensor *gc = em_tensor_contiguous(gout), *dx = NULL, *dw = NULL, *db = NULL;
  int rc = -1;
  if (!gc) return -1;
  if ((want_x && !(dx = em_tensor_new(x->ndim, x->shape))) ||   /* written whole by the drivers */
      (want_w && !(dw = em_tensor_zeros(w->ndim, w->shape))) ||
      (want_b && !(db = em_tensor_zeros(b->ndim, b->shape))))
    goto out;
  if (conv_backward_parallel(dx ? em_data(dx) : NULL, dw ? em_data(dw) : NULL, db ? em_data(db) : NULL,
                             em_data(gc), em_data(nd->saved[0]), em_data(nd->saved[1]), &g))
    goto out;
  rc = 0;
out:
  em_tensor_release(gc);
  return em_node_accum3_owned(nd, rc == 0, dx, dw, db);
}

em_tensor *em_conv2d(em_tensor *x, em_tensor *w, em_tensor *b, const em_conv2d_opts *o) {
  char sx[EM_SHAPE_BUF], sw[EM_SHAPE_BUF];
  em_tensor_shape_str(sx, sizeof sx, x);
  em_tensor_shape_str(sw, sizeof sw, w);
  if (w->ndim != 4) { em_fail("conv2d: weight must be [Cout x Cin x kh x kw] (got %s)", sw); return NULL; }
  if (x->ndim != 4 && x->ndim != 3) {
    em_fail("conv2d: input must be [N x C x H x W] or [C x H x W] (got %s)", sx);
    return NULL;
  }
  for (int k = 0; k < 2; k++)
    if (o->stride[k] < 1 || o->dilation[k] < 1 || o->padding[k] < 0 || o->pad_extra[k] < 0 ||
        o->padding[k] > INT32_MAX / 4 || o->pad_extra[k] > INT32_MAX / 4) {
      em_fail("conv2d: stride and dilation must be >= 1 and padding >= 0 (got stride %d, padding %d, dilation %d)",
              o->stride[k], o->padding[k] + (o->pad_extra[k] > 0 ? o->pad_extra[k] : 0), o->dilation[k]);
      return NULL;
    }
  const int groups = o->groups > 1 ? o->groups : 1;
  if (o->groups < 0) { em_fail("conv2d: groups must be >= 1 (got %d)", o->groups); return NULL; }
  for (int d = 0; d < x->ndim; d++)
    if (x->shape[d] > INT32_MAX / 2) { em_fail("conv2d: input %s is too large", sx); return NULL; }
  for (int d = 0; d < 4; d++)
    if (w->shape[d] > INT32_MAX / 2) { em_fail("conv2d: weight %s is too large", sw); return NULL; }
  int batched = x->ndim == 4, d0 = batched ? 1 : 0;
  em_conv2d_geom g = {
    .n = batched ? (int)x->shape[0] : 1, .cin = (int)x->shape[d0], .h = (int)x->shape[d0 + 1],
    .w = (int)x->shape[d0 + 2], .cout = (int)w->shape[0], .kh = (int)w->shape[2], .kw = (int)w->shape[3],
    .sh = o->stride[0], .sw = o->stride[1], .ph = o->padding[0], .pw = o->padding[1], .dh = o->dilation[0],
    .dw = o->dilation[1], .eh = o->pad_extra[0], .ew = o->pad_extra[1], .groups = groups};
  if (g.cin % groups || g.cout % groups) {
    em_fail("conv2d: groups %d must divide the input channels (%d) and the output channels (%d)", groups, g.cin,
            g.cout);
    return NULL;
  }
  if (w->shape[1] * groups != g.cin) {
    if (groups == 1)
      em_fail("conv2d: input %s has %d channels but weight %s expects %lld", sx, g.cin, sw, (long long)w->shape[1]);
    else
      em_fail("conv2d: input %s has %d channels, so with groups %d weight %s needs %d input channels per group", sx,
              g.cin, groups, sw, g.cin / groups);
    return NULL;
  }
  if (b && (b->ndim != 1 || b->shape[0] != g.cout)) {
    char sb[EM_SHAPE_BUF];
    em_fail("conv2d: bias must be [%d] (got %s)", g.cout, em_tensor_shape_str(sb, sizeof sb, b));
    return NULL;
  }
  /* em_window_out with the padding of both sides: the extra padding of the bottom and right included */
  int64_t oh = em_window_out((int64_t)g.h + g.eh, g.kh, g.sh, g.ph, g.dh, 0);
  int64_t ow = em_window_out((int64_t)g.w + g.ew, g.kw, g.sw, g.pw, g.dw, 0);
  if (oh <= 0 || ow <= 0) {
    em_fail("conv2d: input %s is smaller than the kernel (%d x %d, padding %d x %d, dilation %d x %d)", sx, g.kh,
            g.kw, g.ph, g.pw, g.dh, g.dw);
    return NULL;
  }
  /* the GEMM sizes (Cin kh kw, oh ow, Cout) are ints */
  if ((int64_t)g.cin * g.kh * g.kw > INT32_MAX || oh * ow > INT32_MAX) {
    em_fail("conv2d: input %s with weight %s is too large", sx, sw);
    return NULL;
  }
  g.oh = (int)oh;
  g.ow = (int)ow;
  int64_t shape[4] = {g.n, g.cout, oh, ow};
  em_tensor *out = batched ? em_tensor_new(4, shape) : em_tensor_new(3, shape + 1);
  em_tensor *xc = em_tensor_contiguous(x), *wc = em_tensor_contiguous(w), *bc = b ? em_tensor_contiguous(b) : NULL;
  if (!out || !xc || !wc || (b && !bc) ||
      (em_numel(out) > 0 && conv_forward_parallel(em_data(out), em_data(xc), em_data(wc), bc ? em_data(bc) : NULL, &g))) {
    em_tensor_release(out);
    out = NULL;
    goto done;
  }
  em_tensor *in[3] = {x, w, b};
  em_node *n;
  if (em_node_attach(&n, out, "conv2d", conv2d_backward, 3, in, &g, sizeof g) ||
      (n && (em_node_save(n, 0, xc) || em_node_save(n, 1, wc)))) {
    em_tensor_release(out);
    out = NULL;
  }
done:
  em_tensor_release(xc);
  em_tensor_release(wc);
  em_tensor_release(bc);
  return out;
}
