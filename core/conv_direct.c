/* conv_direct.c - direct 2-d convolution (stride 1) with the images of a batch in the lanes of vector
   registers: a group of V images (16 with AVX-512, 8 with AVX2) is transposed into a "lane-major"
   buffer (C, H, W, V), and every multiply-add of the textbook loop then serves V images at once, so
   the vectors are full whatever the image and channel sizes. LeNet's convolutions run this way at
   near the core's FMA peak, where im2col's per-image GEMMs (10 x 576 x 25, 20 x 64 x 250) reached a
   quarter to a half of it and a third of their time went into copying columns.
   The input gradient is the forward kernel run on the zero-padded output gradient with the kernel
   flipped and its channel axes swapped (the transposed convolution, as Dumoulin & Visin 2016,
   arXiv:1603.07285, section 4.1); the weight gradient correlates the input with the output gradient.
   The kernels are compiled for each instruction set from conv_direct_kernels.h and chosen at run time
   (__builtin_cpu_supports), so the build needs no -march flag. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "conv_direct.h"
#include "parallel.h"

/* the sizes a kernel reads: input (cin, hp, wp) already padded, nonzero only in rows [r0, r1) and
   columns [c0, c1); kernel (kh, kw) with dilation (dh, dw); output (cout, oh, ow) */
typedef struct { int cin, hp, wp, r0, r1, c0, c1, cout, kh, kw, dh, dw, oh, ow; } cd_shape;

typedef struct {
  const char *name;
  int lanes, fb, wb;   /* images per vector; output channels per forward / weight-gradient block */
  void (*pack)(float *dst, const float *src, int64_t img, int count, int C, int H, int W, int Hp, int Wp, int pt,
               int pl);
  void (*unpack)(float *dst, int64_t img, const float *src, int count, int64_t p0, int64_t p1, int add);
  void (*forward)(float *y, const float *x, const float *w, const float *b, const cd_shape *s, int co0, int co1);
  void (*wgrad)(float *part, float *bpart, const float *g, int64_t gplane, int gw, const float *x, const cd_shape *s,
                int co0, int co1);
} cd_isa;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EM_CONV_DIRECT 1
#include <immintrin.h>

#if defined(__clang__)
#define CD_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define CD_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (__typeof__(cd_imask)){__VA_ARGS__})
#endif

/* ---- AVX-512: 16 images per vector ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#endif
typedef int cd_imask16 __attribute__((vector_size(64)));
#define cd_imask (cd_imask16){0}
#define CD_V 16
#define CD_VEC __m512
#define CD_LOAD(p) _mm512_loadu_ps(p)
#define CD_STORE(p, v) _mm512_storeu_ps(p, v)
#define CD_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define CD_SET1(x) _mm512_set1_ps(x)
#define CD_ZERO() _mm512_setzero_ps()
#define CD_ADD(a, b) _mm512_add_ps(a, b)
#define CD_HSUM(v) _mm512_reduce_add_ps(v)
#define CD_ILO(a, b) CD_SHUFFLE(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define CD_IHI(a, b) CD_SHUFFLE(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define CD_FB 5
#define CD_WB 4
#define CD_FN(name) name##_avx512
#include "conv_direct_kernels.h"   /* undefines its parameters and cd_imask at its end */
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

/* ---- AVX2 with FMA: 8 images per vector, and half the registers ---- */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
typedef int cd_imask8 __attribute__((vector_size(32)));
#define cd_imask (cd_imask8){0}
static inline float hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#define CD_V 8
#define CD_VEC __m256
#define CD_LOAD(p) _mm256_loadu_ps(p)
#define CD_STORE(p, v) _mm256_storeu_ps(p, v)
#define CD_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define CD_SET1(x) _mm256_set1_ps(x)
#define CD_ZERO() _mm256_setzero_ps()
#define CD_ADD(a, b) _mm256_add_ps(a, b)
#define CD_HSUM(v) hsum_avx2(v)
#define CD_ILO(a, b) CD_SHUFFLE(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define CD_IHI(a, b) CD_SHUFFLE(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define CD_FB 2
#define CD_WB 2
#define CD_FN(name) name##_avx2
#include "conv_direct_kernels.h"   /* undefines its parameters and cd_imask at its end */
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const cd_isa isa_avx512 = {"avx512", 16, 5, 4, pack_avx512, unpack_avx512, forward_avx512, wgrad_avx512};
static const cd_isa isa_avx2 = {"avx2", 8, 2, 2, pack_avx2, unpack_avx2, forward_avx2, wgrad_avx2};
#endif

static const cd_isa *chosen;
static int chosen_set;

static const cd_isa *best_isa(void) {
#ifdef EM_CONV_DIRECT
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return &isa_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &isa_avx2;
#endif
  return NULL;
}

static const cd_isa *isa(void) {
  if (!chosen_set) {
    chosen = best_isa();
    chosen_set = 1;
  }
  return chosen;
}

const char *em_conv_direct_isa(void) { return isa() ? isa()->name : NULL; }
int em_conv_direct_lanes(void) { return isa() ? isa()->lanes : 0; }

int em_conv_direct_use(const char *name) {
  const cd_isa *best = best_isa();
  chosen_set = 1;
  if (!name) { chosen = best; return 0; }
#ifdef EM_CONV_DIRECT
  if (best && !strcmp(name, "avx512") && best == &isa_avx512) { chosen = &isa_avx512; return 0; }
  if (best && !strcmp(name, "avx2")) { chosen = &isa_avx2; return 0; }
#endif
  chosen = best;
  return -1;
}

/* Beyond this many taps per output (Cin kh kw) the lane-major input of a group outgrows the caches
   that the blocks re-read it from, and im2col's larger GEMMs are efficient anyway. */
#define MAX_TAPS 1600

int em_conv_direct_fits(const em_conv2d_geom *g) {
  const cd_isa *k = isa();
  const int cin_g = g->cin / em_conv2d_groups(g);
  /* the padding within the dilated kernel on every side: the input gradient pads the output gradient
     by the rest */
  return k && g->sh == 1 && g->sw == 1 && g->kh * g->kw > 1 && g->ph + g->eh <= (g->kh - 1) * g->dh &&
         g->pw + g->ew <= (g->kw - 1) * g->dw && 2 * g->n >= k->lanes && (int64_t)cin_g * g->kh * g->kw <= MAX_TAPS;
}

/* Scratch kept between calls (a training step asks for the same sizes every time), per calling thread,
   aligned to a cache line for the vector loads */
static float *scratch(int64_t n) {
  static __thread float *buf;
  static __thread int64_t cap;
  if (n > cap) {
    free(buf);
    buf = malloc((size_t)(n + 16) * sizeof(float));
    cap = buf ? n : 0;
    if (!buf) return NULL;
  }
  return (float *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
}

/* The batch is cut into groups of `lanes` images (the last may be partial), the channels into `cg`
   channel groups (conv2d's groups) of cin_g inputs and cout_g outputs each; a task is one image group,
   one channel group and a block of its channels. */
typedef struct {
  const cd_isa *k;
  const em_conv2d_geom *g;
  cd_shape fs, bs;          /* one channel group's forward (and weight gradient) shape; its input gradient's */
  int groups, lanes, cg, cin_g, cout_g;
  int64_t in_img, out_img;  /* floats per image of input and output */
  int64_t xsz, gsz, dxsz;   /* floats per image group: lane-major input, output gradient (padded), input gradient */
  int gqh, gqw;             /* top and left padding of the output gradient for the input gradient */
  int fco, wco, xci;        /* channels per task: forward, weight gradient, input gradient */
  int ftasks, wtasks, xtasks;   /* tasks per image group and channel group */
  const float *inp, *w, *b, *dout;
  float *out, *dinp, *dw, *db;
  float *xp, *yp, *gp, *dxp, *wt, *part;
  int64_t pn;               /* floats per image group partial: dw, then db */
} cd_job;

/* one channel group's forward convolution as the kernels read it: the input padded, the image in the
   middle (one row and column more at the bottom and right with eh, ew) */
static cd_shape input_shape(const em_conv2d_geom *g) {
  const int G = em_conv2d_groups(g);
  return (cd_shape){g->cin / G, g->h + 2 * g->ph + g->eh, g->w + 2 * g->pw + g->ew, g->ph, g->ph + g->h, g->pw,
                    g->pw + g->w, g->cout / G, g->kh, g->kw, g->dh, g->dw, g->oh, g->ow};
}

static void job_init(cd_job *j, const em_conv2d_geom *g) {
  j->k = isa();
  j->g = g;
  j->lanes = j->k->lanes;
  j->groups = (g->n + j->lanes - 1) / j->lanes;
  j->cg = em_conv2d_groups(g);
  j->cin_g = g->cin / j->cg;
  j->cout_g = g->cout / j->cg;
  j->fs = input_shape(g);
  j->in_img = (int64_t)g->cin * g->h * g->w;
  j->out_img = (int64_t)g->cout * g->oh * g->ow;
}

static int group_count(const cd_job *j, int gi) {
  int left = j->g->n - gi * j->lanes;
  return left < j->lanes ? left : j->lanes;
}

static void pack_input(void *p, int64_t gi, int worker) {
  const cd_job *j = p;
  const em_conv2d_geom *g = j->g;
  (void)worker;
  j->k->pack(j->xp + gi * j->xsz, j->inp + gi * j->lanes * j->in_img, j->in_img, group_count(j, (int)gi), g->cin,
             g->h, g->w, j->fs.hp, j->fs.wp, g->ph, g->pw);
}

/* the channel range [lo, hi) of task t of a group cut into tasks of `per` channels */
static void task_range(int t, int per, int total, int *lo, int *hi) {
  *lo = t * per;
  *hi = *lo + per < total ? *lo + per : total;
}

static void forward_task(void *p, int64_t task, int worker) {
  const cd_job *j = p;
  const int per_group = j->cg * j->ftasks, gi = (int)(task / per_group), c = (int)(task % per_group / j->ftasks);
  const int64_t plane = (int64_t)j->fs.oh * j->fs.ow, xplane = (int64_t)j->fs.hp * j->fs.wp * j->lanes;
  int co0, co1;
  (void)worker;
  task_range((int)(task % j->ftasks), j->fco, j->cout_g, &co0, &co1);
  float *y = j->yp + (gi * (int64_t)j->g->cout + (int64_t)c * j->cout_g) * plane * j->lanes;
  j->k->forward(y, j->xp + gi * j->xsz + c * j->cin_g * xplane, j->w + (int64_t)c * j->cout_g * j->cin_g * j->fs.kh * j->fs.kw,
                j->b ? j->b + c * j->cout_g : NULL, &j->fs, co0, co1);
  const int64_t first = (int64_t)c * j->cout_g * plane;
  j->k->unpack(j->out + gi * j->lanes * j->out_img, j->out_img, y - first * j->lanes, group_count(j, gi),
               first + co0 * plane, first + co1 * plane, 0);
}

/* With at least two image groups per worker, a worker takes whole groups (pack, compute, unpack) in one
   parallel region, with the packed group still in its cache; with fewer, packing and the channel blocks
   are separate regions, so more workers share a group. Either way every output is computed the same way. */
static int whole_groups(int groups) { return groups >= 2 * em_parallel_workers(); }

static void forward_group(void *p, int64_t gi, int worker) {
  const cd_job *j = p;
  pack_input(p, gi, worker);
  for (int64_t t = 0, n = (int64_t)j->cg * j->ftasks; t < n; t++) forward_task(p, gi * n + t, worker);
}

/* tasks of about the same work; at least one block of the kernel per task */
static int channels_per_task(int block, int total) {
  return total < block ? total : block;
}

int em_conv_direct_forward(float *out, const float *inp, const float *w, const float *b, const em_conv2d_geom *g) {
  cd_job j = {.inp = inp, .w = w, .b = b, .out = out};
  job_init(&j, g);
  j.xsz = (int64_t)g->cin * j.fs.hp * j.fs.wp * j.lanes;
  const int64_t ysz = j.out_img * j.lanes;
  float *buf = scratch(j.groups * (j.xsz + ysz));
  if (!buf) return em_fail("conv2d: out of memory");
  j.xp = buf;
  j.yp = buf + j.groups * j.xsz;
  j.fco = channels_per_task(j.k->fb, j.cout_g);
  j.ftasks = (j.cout_g + j.fco - 1) / j.fco;
  if (whole_groups(j.groups)) em_parallel_chunks(j.groups, forward_group, &j);
  else {
    em_parallel_chunks(j.groups, pack_input, &j);
    em_parallel_chunks((int64_t)j.groups * j.cg * j.ftasks, forward_task, &j);
  }
  return 0;
}

/* phase 1 of the backward pass: chunk 2 gi packs image group gi's output gradient (padded for the input
   gradient), chunk 2 gi + 1 its input (for the weight gradient) */
static void pack_backward(void *p, int64_t chunk, int worker) {
  const cd_job *j = p;
  const em_conv2d_geom *g = j->g;
  const int gi = (int)(chunk / 2);
  if (chunk % 2 == 0)
    j->k->pack(j->gp + gi * j->gsz, j->dout + gi * j->lanes * j->out_img, j->out_img, group_count(j, gi), g->cout,
               g->oh, g->ow, j->bs.hp, j->bs.wp, j->gqh, j->gqw);
  else if (j->dw)
    pack_input(p, gi, worker);
}

/* phase 2: the weight-gradient tasks of every image group, then the input-gradient tasks */
static void backward_task(void *p, int64_t task, int worker) {
  const cd_job *j = p;
  const em_conv2d_geom *g = j->g;
  const int64_t wall = (int64_t)j->groups * j->cg * j->wtasks, K1 = (int64_t)g->kh * g->kw;
  const int64_t gplane = (int64_t)j->bs.hp * j->bs.wp, xplane = (int64_t)j->fs.hp * j->fs.wp;
  int lo, hi;
  (void)worker;
  if (task < wall) {
    const int gi = (int)(task / (j->cg * j->wtasks)), c = (int)(task % (j->cg * j->wtasks) / j->wtasks);
    task_range((int)(task % j->wtasks), j->wco, j->cout_g, &lo, &hi);
    const float *gp = j->gp + gi * j->gsz + ((int64_t)c * j->cout_g * gplane + (int64_t)j->gqh * j->bs.wp + j->gqw) * j->lanes;
    float *part = j->part + gi * j->pn;
    j->k->wgrad(j->dw ? part + c * j->cout_g * j->cin_g * K1 : NULL,
                j->db ? part + (int64_t)g->cout * j->cin_g * K1 + c * j->cout_g : NULL, gp, gplane, j->bs.wp,
                j->xp + gi * j->xsz + c * j->cin_g * xplane * j->lanes, &j->fs, lo, hi);
    return;
  }
  task -= wall;
  const int gi = (int)(task / (j->cg * j->xtasks)), c = (int)(task % (j->cg * j->xtasks) / j->xtasks);
  task_range((int)(task % j->xtasks), j->xci, j->cin_g, &lo, &hi);
  const int64_t plane = (int64_t)g->h * g->w, first = (int64_t)c * j->cin_g * plane;
  float *dx = j->dxp + gi * j->dxsz + first * j->lanes;
  j->k->forward(dx, j->gp + gi * j->gsz + (int64_t)c * j->cout_g * gplane * j->lanes,
                j->wt + (int64_t)c * j->cin_g * j->cout_g * K1, NULL, &j->bs, lo, hi);
  j->k->unpack(j->dinp + gi * j->lanes * j->in_img, j->in_img, dx - first * j->lanes, group_count(j, gi),
               first + lo * plane, first + hi * plane, 0);
}

/* one image group whole: both packs, its weight-gradient tasks, its input-gradient tasks */
static void backward_group(void *p, int64_t gi, int worker) {
  const cd_job *j = p;
  const int64_t wn = (int64_t)j->cg * j->wtasks, xn = (int64_t)j->cg * j->xtasks;
  pack_backward(p, 2 * gi, worker);
  pack_backward(p, 2 * gi + 1, worker);
  for (int64_t t = 0; t < wn; t++) backward_task(p, gi * wn + t, worker);
  for (int64_t t = 0; t < xn; t++) backward_task(p, (int64_t)j->groups * wn + gi * xn + t, worker);
}

int em_conv_direct_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            const em_conv2d_geom *g) {
  if (!dinp && !dw && !db) return 0;
  cd_job j = {.inp = inp, .w = w, .dout = dout, .dinp = dinp, .dw = dw, .db = db};
  job_init(&j, g);
  /* the input gradient: a stride-1 convolution of the output gradient, padded by the rest of the dilated
     kernel on each side, with Cout_g channels in and Cin_g out */
  const int spanh = (g->kh - 1) * g->dh, spanw = (g->kw - 1) * g->dw;
  j.gqh = dinp ? spanh - g->ph : 0;
  j.gqw = dinp ? spanw - g->pw : 0;
  const int ghp = g->oh + (dinp ? 2 * spanh - 2 * g->ph - g->eh : 0);
  const int gwp = g->ow + (dinp ? 2 * spanw - 2 * g->pw - g->ew : 0);
  j.bs = (cd_shape){j.cout_g, ghp, gwp, j.gqh, j.gqh + g->oh, j.gqw, j.gqw + g->ow, j.cin_g, g->kh, g->kw, g->dh,
                    g->dw, g->h, g->w};
  const int64_t K1 = (int64_t)g->kh * g->kw, dwn = (int64_t)g->cout * j.cin_g * K1;
  j.xsz = dw ? (int64_t)g->cin * j.fs.hp * j.fs.wp * j.lanes : 0;
  j.gsz = (int64_t)g->cout * ghp * gwp * j.lanes;
  j.dxsz = dinp ? j.in_img * j.lanes : 0;
  j.pn = (dw || db) ? dwn + g->cout : 0;
  const int64_t G = j.groups;
  float *buf = scratch(G * (j.xsz + j.gsz + j.dxsz + j.pn) + (dinp ? dwn : 0));
  if (!buf) return em_fail("conv2d backward: out of memory");
  j.xp = buf;
  j.gp = j.xp + G * j.xsz;
  j.dxp = j.gp + G * j.gsz;
  j.part = j.dxp + G * j.dxsz;
  j.wt = j.part + G * j.pn;
  if (dinp)   /* per channel group, wt (Cin_g, Cout_g, kh, kw) = w (Cout_g, Cin_g, kh, kw) with both kernel axes reversed */
    for (int c = 0; c < j.cg; c++) {
      const float *wg = w + (int64_t)c * j.cout_g * j.cin_g * K1;
      float *tg = j.wt + (int64_t)c * j.cin_g * j.cout_g * K1;
      for (int co = 0; co < j.cout_g; co++)
        for (int ci = 0; ci < j.cin_g; ci++)
          for (int64_t t = 0; t < K1; t++) tg[((int64_t)ci * j.cout_g + co) * K1 + (K1 - 1 - t)] = wg[((int64_t)co * j.cin_g + ci) * K1 + t];
    }
  j.wco = channels_per_task(j.k->wb, j.cout_g);
  j.wtasks = (dw || db) ? (j.cout_g + j.wco - 1) / j.wco : 0;
  j.xci = channels_per_task(j.k->fb, j.cin_g);
  j.xtasks = dinp ? (j.cin_g + j.xci - 1) / j.xci : 0;
  if (whole_groups(j.groups)) em_parallel_chunks(G, backward_group, &j);
  else {
    em_parallel_chunks(2 * G, pack_backward, &j);
    em_parallel_chunks(G * j.cg * (j.wtasks + j.xtasks), backward_task, &j);
  }
  if (dw) em_sum_chunks(dw, j.part, G, j.pn, dwn);
  if (db) em_sum_chunks(db, j.part + dwn, G, j.pn, g->cout);
  return 0;
}
