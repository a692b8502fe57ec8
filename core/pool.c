/* pool.c - 2-d max and average pooling with their backward passes (semantics of torch.nn.MaxPool2d and
   AvgPool2d: implicit -inf / zero padding, dilation for max, ceil_mode, count_include_pad). Max pooling
   is one pass that writes each output and remembers where its maximum came from; backward scatters the
   gradient through those saved positions, so it never re-reads the input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "nn.h"
#include "autograd.h"
#include "parallel.h"

/* The comparisons below select with `?:` rather than branch (a branch on random data mispredicts half
   the time), so these loops become branch-free vector code; under the default -ftrapping-math GCC keeps
   a select on a comparison that could see a NaN as a branch. ember never reads the FP exception flags;
   the results are the same IEEE values. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* the common LeNet case (2x2 window, stride 2, no padding): four loads and three compares per output,
   in the same order and with the same NaN rule as the general loop (a later value wins if larger or
   NaN) */
static void maxpool_2x2(float *restrict out, int32_t *restrict idx, const float *restrict x, int W, int OH,
                        int OW) {
  for (int oh = 0; oh < OH; oh++) {
    const float *r0 = x + (int64_t)(2 * oh) * W, *r1 = r0 + W;
    float *y = out + (int64_t)oh * OW;
    int32_t *ix = idx + (int64_t)oh * OW, base = 2 * oh * W;
    for (int ow = 0; ow < OW; ow++) {
      const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
      float m = a;
      int32_t k = base + 2 * ow;
      int t = b > m || b != b;
      m = t ? b : m;
      k = t ? base + 2 * ow + 1 : k;
      t = c > m || c != c;
      m = t ? c : m;
      k = t ? base + W + 2 * ow : k;
      t = d > m || d != d;
      m = t ? d : m;
      k = t ? base + W + 2 * ow + 1 : k;
      y[ow] = m;
      ix[ow] = k;
    }
  }
}

/* the backward of maxpool_2x2 into a plane it writes whole (no zeroing first): each input of a window
   gets the window's gradient if it was the winner, else 0; rows and columns no window covers get 0 */
static void maxpool_2x2_backward(float *restrict dx, const float *restrict go,
                                 const int32_t *restrict ix, int H, int W, int OH, int OW) {
  for (int oh = 0; oh < OH; oh++) {
    float *d0 = dx + (int64_t)(2 * oh) * W, *d1 = d0 + W;
    const float *g = go + (int64_t)oh * OW;
    const int32_t *k = ix + (int64_t)oh * OW;
    const int32_t base = 2 * oh * W;
    for (int ow = 0; ow < OW; ow++) {
      const int32_t at = k[ow] - base - 2 * ow;   /* 0, 1 (top row), W, W + 1 (bottom row) */
      const float v = g[ow];
      d0[2 * ow] = at == 0 ? v : 0.0f;
      d0[2 * ow + 1] = at == 1 ? v : 0.0f;
      d1[2 * ow] = at == W ? v : 0.0f;
      d1[2 * ow + 1] = at == W + 1 ? v : 0.0f;
    }
    for (int w = 2 * OW; w < W; w++) d0[w] = d1[w] = 0.0f;
  }
  for (int h = 2 * OH; h < H; h++)
    for (int w = 0; w < W; w++) dx[(int64_t)h * W + w] = 0.0f;
}

static int is_2x2(const em_pool2d_geom *g) {
  return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 && g->dh == 1 &&
         g->dw == 1 && 2 * g->oh <= g->h && 2 * g->ow <= g->w;   /* no partial (ceil_mode) window */
}

void em_maxpool2d_forward(float *out, int32_t *idx, const float *inp, const em_pool2d_geom *g) {
  const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
  const int fast = is_2x2(g);
  for (int p = 0; p < g->planes; p++) {
    const float *x = inp + (int64_t)p * H * W;
    float *y = out + (int64_t)p * OH * OW;
    int32_t *ix = idx + (int64_t)p * OH * OW;
    if (fast) { maxpool_2x2(y, ix, x, W, OH, OW); continue; }
    for (int oh = 0; oh < OH; oh++) {
      int hs = oh * g->sh - g->ph;
      /* taps i with 0 <= hs + i dh < H */
      int i0 = hs >= 0 ? 0 : (-hs + g->dh - 1) / g->dh, i1 = g->kh;
      while (i1 > i0 && hs + (i1 - 1) * g->dh >= H) i1--;
      for (int ow = 0; ow < OW; ow++) {
        int ws = ow * g->sw - g->pw;
        int j0 = ws >= 0 ? 0 : (-ws + g->dw - 1) / g->dw, j1 = g->kw;
        while (j1 > j0 && ws + (j1 - 1) * g->dw >= W) j1--;
        float m = -INFINITY;
        /* a window with no tap inside the input (only possible with dilation) has no winner: -1 */
        int32_t k = (i0 < i1 && j0 < j1) ? (hs + i0 * g->dh) * W + ws + j0 * g->dw : -1;
        for (int i = i0; i < i1; i++) {
          const float *row = x + (int64_t)(hs + i * g->dh) * W;
          for (int j = j0; j < j1; j++) {
            float v = row[ws + j * g->dw];
            if (v > m || v != v) { m = v; k = (hs + i * g->dh) * W + ws + j * g->dw; }
          }
        }
        y[(int64_t)oh * OW + ow] = m;
        ix[(int64_t)oh * OW + ow] = k;
      }
    }
  }
}

void em_maxpool2d_backward(float *dinp, const float *dout, const int32_t *idx, const em_pool2d_geom *g) {
  const int64_t in_sz = (int64_t)g->h * g->w, out_sz = (int64_t)g->oh * g->ow;
  for (int p = 0; p < g->planes; p++) {
    float *dx = dinp + p * in_sz;
    const float *go = dout + p * out_sz;
    const int32_t *ix = idx + p * out_sz;
    for (int64_t o = 0; o < out_sz; o++)
      if (ix[o] >= 0) dx[ix[o]] += go[o];
  }
}

/* the window of output (oh, ow) clipped to the input, and its divisor (PyTorch's AvgPool2d rule: the
   window clipped to the padded input when count_include_pad, else to the input itself) */
typedef struct { int h0, h1, w0, w1; float inv; } avg_window;

static avg_window avg_win(const em_pool2d_geom *g, int oh, int ow) {
  avg_window a;
  int hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
  int he = hs + g->kh, we = ws + g->kw;
  if (he > g->h + g->ph) he = g->h + g->ph;
  if (we > g->w + g->pw) we = g->w + g->pw;
  int padded = (he - hs) * (we - ws);
  a.h0 = hs < 0 ? 0 : hs;
  a.w0 = ws < 0 ? 0 : ws;
  a.h1 = he > g->h ? g->h : he;
  a.w1 = we > g->w ? g->w : we;
  int n = g->count_include_pad ? padded : (a.h1 - a.h0) * (a.w1 - a.w0);
  a.inv = n > 0 ? 1.0f / (float)n : 0.0f;
  return a;
}

void em_avgpool2d_forward(float *out, const float *inp, const em_pool2d_geom *g) {
  const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
  for (int p = 0; p < g->planes; p++) {
    const float *x = inp + (int64_t)p * H * W;
    float *y = out + (int64_t)p * OH * OW;
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        avg_window a = avg_win(g, oh, ow);
        float s = 0.0f;
        for (int i = a.h0; i < a.h1; i++) {
          const float *row = x + (int64_t)i * W;
          for (int j = a.w0; j < a.w1; j++) s += row[j];
        }
        y[(int64_t)oh * OW + ow] = s * a.inv;
      }
  }
}

void em_avgpool2d_backward(float *dinp, const float *dout, const em_pool2d_geom *g) {
  const int H = g->h, W = g->w, OH = g->oh, OW = g->ow;
  for (int p = 0; p < g->planes; p++) {
    float *dx = dinp + (int64_t)p * H * W;
    const float *go = dout + (int64_t)p * OH * OW;
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        avg_window a = avg_win(g, oh, ow);
        float v = go[(int64_t)oh * OW + ow] * a.inv;
        for (int i = a.h0; i < a.h1; i++) {
          float *row = dx + (int64_t)i * W;
          for (int j = a.w0; j < a.w1; j++) row[j] += v;
        }
      }
  }
}

/* ---- differentiable ops ---- */

/* planes are independent (indices are plane-local): ranges of them go to ember's workers */
typedef struct { em_pool2d_geom g; float *out; int32_t *idx; const float *in; int is_max, backward; } pool_job;

static void pool_range(void *p, int64_t b, int64_t e, int worker) {
  (void)worker;
  pool_job *j = p;
  em_pool2d_geom g = j->g;
  const int64_t in_sz = (int64_t)g.h * g.w, out_sz = (int64_t)g.oh * g.ow;
  g.planes = (int)(e - b);
  if (!j->backward) {
    if (j->is_max) em_maxpool2d_forward(j->out + b * out_sz, j->idx + b * out_sz, j->in + b * in_sz, &g);
    else em_avgpool2d_forward(j->out + b * out_sz, j->in + b * in_sz, &g);
  } else {   /* out is dinp, uninitialised: each range writes its planes whole; in is dout */
    float *dx = j->out + b * in_sz;
    if (j->is_max && is_2x2(&g)) {
      for (int p = 0; p < g.planes; p++)
        maxpool_2x2_backward(dx + p * in_sz, j->in + (b + p) * out_sz, j->idx + (b + p) * out_sz, g.h, g.w, g.oh, g.ow);
      return;
    }
    memset(dx, 0, (size_t)(g.planes * in_sz) * sizeof(float));
    if (j->is_max) em_maxpool2d_backward(dx, j->in + b * out_sz, j->idx + b * out_sz, &g);
    else em_avgpool2d_backward(dx, j->in + b * out_sz, &g);
  }
}

static void pool_parallel(pool_job *j) {
  int64_t per_plane = (int64_t)j->g.h * j->g.w + (int64_t)j->g.oh * j->g.ow;
  int64_t grain = per_plane >= 4096 ? 4 : (16384 + per_plane - 1) / per_plane;
  em_parallel_for(j->g.planes, grain, pool_range, j);
}

/* the node's state is the geometry; its extra holds max pooling's winners */
static int pool_backward(em_node *n, em_tensor *gout) {
  const em_pool2d_geom g = *(const em_pool2d_geom *)em_node_state(n);
  em_tensor *x = n->inputs[0];
  em_tensor *gc = em_tensor_contiguous(gout);
  em_tensor *dx = gc ? em_tensor_new(x->ndim, x->shape) : NULL;   /* pool_range writes it whole */
  int rc = -1;
  if (dx) {
    pool_job j = {.g = g, .out = em_data(dx), .idx = n->extra, .in = em_data(gc), .is_max = n->extra != NULL,
                  .backward = 1};
    pool_parallel(&j);
    rc = em_node_accum_owned(n, 0, dx);
    dx = NULL;
  }
  em_tensor_release(dx);
  em_tensor_release(gc);
  return rc;
}

/* checks the options against x and fills the geometry; fn names the op in messages */
static int pool_setup(const char *fn, em_tensor *x, const em_pool2d_opts *o, em_pool2d_geom *g) {
  char sx[EM_SHAPE_BUF];
  em_tensor_shape_str(sx, sizeof sx, x);
  if (x->ndim != 4 && x->ndim != 3)
    return em_fail("%s: input must be [N x C x H x W] or [C x H x W] (got %s)", fn, sx);
  for (int k = 0; k < 2; k++) {
    if (o->kernel[k] < 1 || o->stride[k] < 1 || o->dilation[k] < 1 || o->padding[k] < 0)
      return em_fail("%s: kernel, stride and dilation must be >= 1 and padding >= 0 "
                     "(got kernel %d, stride %d, padding %d, dilation %d)",
                     fn, o->kernel[k], o->stride[k], o->padding[k], o->dilation[k]);
    /* as PyTorch: otherwise a window could lie entirely in the padding */
    if (o->padding[k] > o->kernel[k] / 2)
      return em_fail("%s: padding must be at most half the kernel size (got padding %d, kernel %d)", fn,
                     o->padding[k], o->kernel[k]);
  }
  int nd = x->ndim;
  int64_t planes = em_shape_numel(nd - 2, x->shape);
  if (x->shape[nd - 2] > INT32_MAX || x->shape[nd - 1] > INT32_MAX ||
      x->shape[nd - 2] * x->shape[nd - 1] > INT32_MAX || planes > INT32_MAX)
    return em_fail("%s: input %s is too large", fn, sx);
  g->planes = (int)planes;
  g->h = (int)x->shape[nd - 2];
  g->w = (int)x->shape[nd - 1];
  g->kh = o->kernel[0]; g->kw = o->kernel[1];
  g->sh = o->stride[0]; g->sw = o->stride[1];
  g->ph = o->padding[0]; g->pw = o->padding[1];
  g->dh = o->dilation[0]; g->dw = o->dilation[1];
  g->count_include_pad = o->count_include_pad;
  int64_t oh = em_window_out(g->h, g->kh, g->sh, g->ph, g->dh, o->ceil_mode);
  int64_t ow = em_window_out(g->w, g->kw, g->sw, g->pw, g->dw, o->ceil_mode);
  if (oh <= 0 || ow <= 0)
    return em_fail("%s: input %s is smaller than the kernel (%d x %d, padding %d x %d, dilation %d x %d)", fn, sx,
                   g->kh, g->kw, g->ph, g->pw, g->dh, g->dw);
  g->oh = (int)oh;
  g->ow = (int)ow;
  return 0;
}

static em_tensor *pool(const char *fn, int is_max, em_tensor *x, const em_pool2d_opts *o) {
  em_pool2d_geom g;
  if (pool_setup(fn, x, o, &g)) return NULL;
  if (!is_max && (g.dh != 1 || g.dw != 1)) { em_fail("%s: dilation is not supported (got %d x %d)", fn, g.dh, g.dw); return NULL; }
  int64_t shape[EM_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 2] = g.oh;
  shape[x->ndim - 1] = g.ow;
  em_tensor *out = em_tensor_new(x->ndim, shape);
  em_tensor *xc = out ? em_tensor_contiguous(x) : NULL;
  int32_t *idx = NULL;
  if (!xc) { em_tensor_release(out); return NULL; }
  if (is_max) {
    idx = malloc((size_t)(em_numel(out) + 1) * sizeof *idx);
    if (!idx) { em_fail("%s: out of memory", fn); em_tensor_release(xc); em_tensor_release(out); return NULL; }
  }
  pool_job j = {.g = g, .out = em_data(out), .idx = idx, .in = em_data(xc), .is_max = is_max};
  pool_parallel(&j);
  em_tensor_release(xc);
  em_node *n;
  if (em_node_attach(&n, out, fn, pool_backward, 1, &x, &g, sizeof g)) {
    em_tensor_release(out);
    out = NULL;
  }
  if (n) n->extra = idx;   /* max: the saved winners; avg: NULL */
  else free(idx);
  return out;
}

em_tensor *em_max_pool2d(em_tensor *x, const em_pool2d_opts *o) { return pool("max_pool2d", 1, x, o); }
em_tensor *em_avg_pool2d(em_tensor *x, const em_pool2d_opts *o) { return pool("avg_pool2d", 0, x, o); }
