/* test_nn.c - the layer kernels (core/nn.h): hand-computed convolutions and poolings, agreement with
   naive direct loops over strides/paddings/dilations, finite-difference gradients of every op w.r.t.
   every input, batch-norm statistics, dropout masks and the error messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "nn.h"
#include "ops.h"
#include "autograd.h"
#include "rng.h"

static em_rng rng;

static em_tensor *tensor_of(int ndim, const int64_t *shape, const float *v) {
  em_tensor *t = em_tensor_new(ndim, shape);
  memcpy(em_data(t), v, (size_t)em_numel(t) * sizeof(float));
  return t;
}

static em_tensor *rand_tensor(int ndim, const int64_t *shape, float lo, float hi) {
  em_tensor *t = em_tensor_new(ndim, shape);
  em_tensor_uniform_(t, &rng, lo, hi);
  return t;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* ---- naive references: the definitions written as plainly as possible ---- */

static void conv_ref(float *out, const float *x, const float *w, const float *b, const em_conv2d_geom *g) {
  for (int n = 0; n < g->n; n++)
    for (int co = 0; co < g->cout; co++)
      for (int oh = 0; oh < g->oh; oh++)
        for (int ow = 0; ow < g->ow; ow++) {
          double s = b ? b[co] : 0;
          for (int ci = 0; ci < g->cin; ci++)
            for (int i = 0; i < g->kh; i++)
              for (int j = 0; j < g->kw; j++) {
                int ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                s += (double)x[((n * g->cin + ci) * g->h + ih) * g->w + iw] *
                     w[((co * g->cin + ci) * g->kh + i) * g->kw + j];
              }
          out[((n * g->cout + co) * g->oh + oh) * g->ow + ow] = (float)s;
        }
}

static void pool_ref(float *out, const float *x, const em_pool2d_geom *g, int is_max) {
  for (int p = 0; p < g->planes; p++)
    for (int oh = 0; oh < g->oh; oh++)
      for (int ow = 0; ow < g->ow; ow++) {
        double s = 0, m = -INFINITY;
        int cnt = 0, padded = 0;
        for (int i = 0; i < g->kh; i++)
          for (int j = 0; j < g->kw; j++) {
            int ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
            if (ih < g->h + g->ph && iw < g->w + g->pw) padded++;   /* inside the padded input */
            if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
            float v = x[(p * g->h + ih) * g->w + iw];
            s += v;
            cnt++;
            if (v > m) m = v;
          }
        out[(p * g->oh + oh) * g->ow + ow] = is_max ? (float)m : (float)(s / (g->count_include_pad ? padded : cnt));
      }
}

/* ---- finite differences ---- */

typedef em_tensor *(*op_fn)(em_tensor **in, void *ctx);

/* checks d(sum(r * f(in)))/d in[k] against central differences for every element of every input
   that requires grad; returns the worst |analytic - numeric| / max(1, |numeric|) */
static double gradcheck(op_fn f, em_tensor **in, int nin, void *ctx, double eps) {
  for (int k = 0; k < nin; k++)
    if (in[k]) { in[k]->requires_grad = 1; em_tensor_release(in[k]->grad); in[k]->grad = NULL; }
  em_tensor *out = f(in, ctx);
  if (!out) { fprintf(stderr, "gradcheck: %s\n", em_error()); return 1e9; }
  em_tensor *r = rand_tensor(out->ndim, out->shape, -1, 1);
  if (em_backward(out, r, 0)) { fprintf(stderr, "gradcheck: %s\n", em_error()); return 1e9; }
  em_tensor_release(out);
  double worst = 0;
  int old = em_set_grad_enabled(0);
  for (int k = 0; k < nin; k++) {
    if (!in[k]) continue;
    if (!in[k]->grad) { fprintf(stderr, "gradcheck: input %d got no gradient\n", k); worst = 1e9; continue; }
    float *v = em_data(in[k]);
    for (int64_t i = 0, n = em_numel(in[k]); i < n; i++) {
      float save = v[i];
      double l[2];
      for (int s = 0; s < 2; s++) {
        v[i] = save + (s ? -1.0f : 1.0f) * (float)eps;
        em_tensor *o = f(in, ctx);
        double acc = 0;
        for (int64_t j = 0, m = em_numel(o); j < m; j++) acc += (double)em_data(o)[j] * em_data(r)[j];
        l[s] = acc;
        em_tensor_release(o);
      }
      v[i] = save;
      double num = (l[0] - l[1]) / (2 * eps), ana = em_data(in[k]->grad)[i];
      double e = fabs(num - ana) / fmax(1.0, fabs(num));
      if (e > worst) worst = e;
    }
  }
  em_set_grad_enabled(old);
  em_tensor_release(r);
  return worst;
}

static em_tensor *f_conv(em_tensor **in, void *ctx) { return em_conv2d(in[0], in[1], in[2], ctx); }
static em_tensor *f_maxpool(em_tensor **in, void *ctx) { return em_max_pool2d(in[0], ctx); }
static em_tensor *f_avgpool(em_tensor **in, void *ctx) { return em_avg_pool2d(in[0], ctx); }
static em_tensor *f_linear(em_tensor **in, void *ctx) { (void)ctx; return em_linear(in[0], in[1], in[2]); }
static em_tensor *f_bn_train(em_tensor **in, void *ctx) {
  (void)ctx;
  return em_batch_norm(in[0], in[1], in[2], NULL, NULL, 1, 0.1f, 1e-5f);
}
static em_tensor *f_bn_eval(em_tensor **in, void *ctx) {
  em_tensor **rs = ctx;
  return em_batch_norm(in[0], in[1], in[2], rs[0], rs[1], 0, 0.1f, 1e-5f);
}

/* ---- tests ---- */

static void test_window_out(void) {
  CHECK(em_window_out(28, 5, 1, 0, 1, 0) == 24);
  CHECK(em_window_out(24, 2, 2, 0, 1, 0) == 12);
  CHECK(em_window_out(5, 2, 2, 0, 1, 0) == 2);     /* floor(3 / 2) + 1 */
  CHECK(em_window_out(5, 2, 2, 0, 1, 1) == 3);     /* ceil_mode keeps the partial window */
  CHECK(em_window_out(4, 2, 2, 0, 1, 1) == 2);
  CHECK(em_window_out(5, 3, 2, 1, 1, 1) == 3);     /* last window starts at 3 < 5 + 1 */
  CHECK(em_window_out(7, 3, 1, 0, 3, 0) == 1);     /* dilated kernel spans 7 */
  CHECK(em_window_out(6, 3, 1, 0, 3, 0) == 0);     /* too small */
}

static void test_conv_hand(void) {
  /* x(i, j) = 4 i + j + 1 on a 4x4 image; k = [[1,2,0],[0,1,0],[0,0,-1]], bias 0.5:
     out(i, j) = x(i,j) + 2 x(i,j+1) + x(i+1,j+1) - x(i+2,j+2) + 0.5 */
  float xv[16], kv[9] = {1, 2, 0, 0, 1, 0, 0, 0, -1}, bv[1] = {0.5f};
  for (int i = 0; i < 16; i++) xv[i] = (float)(i + 1);
  int64_t xs[4] = {1, 1, 4, 4}, ks[4] = {1, 1, 3, 3}, bs[1] = {1};
  em_tensor *x = tensor_of(4, xs, xv), *k = tensor_of(4, ks, kv), *b = tensor_of(1, bs, bv);
  em_conv2d_opts o = {.stride = {1, 1}, .padding = {0, 0}, .dilation = {1, 1}};
  em_tensor *y = em_conv2d(x, k, b, &o);
  CHECK(y && y->ndim == 4 && y->shape[2] == 2 && y->shape[3] == 2);
  const float want[4] = {0.5f, 3.5f, 12.5f, 15.5f};
  for (int i = 0; i < 4; i++) CHECK_CLOSE(em_data(y)[i], want[i], 1e-6);
  em_tensor_release(y);
  /* padding 1, stride 2: windows start at (-1,-1), (-1,1), (1,-1), (1,1) -> -5, -5, 5, 15 (no bias) */
  em_conv2d_opts o2 = {.stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}};
  y = em_conv2d(x, k, NULL, &o2);
  const float want2[4] = {-5, -5, 5, 15};
  CHECK(y && y->shape[2] == 2 && y->shape[3] == 2);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(em_data(y)[i], want2[i], 1e-6);
  em_tensor_release(y);
  /* gradient of sum(out) w.r.t. the kernel tap (i, j) is the sum of the inputs it saw: tap (0,0) of the
     unpadded conv sees x(0..1, 0..1) = 1 + 2 + 5 + 6 = 14, tap (2,2) sees 11 + 12 + 15 + 16 = 54 */
  k->requires_grad = 1;
  y = em_conv2d(x, k, b, &o);
  em_tensor *s = em_sum(y, EM_ALL, 0);
  CHECK(em_backward(s, NULL, 0) == 0);
  CHECK(k->grad && fabsf(em_data(k->grad)[0] - 14) < 1e-5f && fabsf(em_data(k->grad)[8] - 54) < 1e-5f);
  em_tensor_release(s);
  em_tensor_release(y);
  em_tensor_release(x); em_tensor_release(k); em_tensor_release(b);
}

/* em_conv2d against the direct definition over a spread of geometries */
static void test_conv_vs_reference(void) {
  const int cases[][11] = {
    /* n cin h w cout kh kw stride pad dil(h) dil(w) */
    {2, 1, 28, 28, 10, 5, 5, 1, 0, 1, 1}, {3, 10, 12, 12, 20, 5, 5, 1, 0, 1, 1}, {2, 3, 7, 9, 4, 3, 2, 2, 1, 1, 1},
    {1, 2, 9, 8, 3, 3, 3, 1, 2, 2, 3}, {2, 4, 5, 5, 3, 1, 1, 1, 0, 1, 1}, {1, 3, 6, 6, 2, 1, 1, 2, 1, 1, 1},
    {2, 2, 10, 7, 3, 4, 3, 3, 2, 2, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int *v = cases[c];
    int64_t xs[4] = {v[0], v[1], v[2], v[3]}, ws[4] = {v[4], v[1], v[5], v[6]}, bs[1] = {v[4]};
    em_tensor *x = rand_tensor(4, xs, -1, 1), *w = rand_tensor(4, ws, -1, 1), *b = rand_tensor(1, bs, -1, 1);
    em_conv2d_opts o = {.stride = {v[7], v[7]}, .padding = {v[8], v[8]}, .dilation = {v[9], v[10]}};
    em_tensor *y = em_conv2d(x, w, b, &o);
    CHECK(y != NULL);
    if (!y) { fprintf(stderr, "%s\n", em_error()); continue; }
    em_conv2d_geom g = {.n = v[0], .cin = v[1], .h = v[2], .w = v[3], .cout = v[4], .kh = v[5], .kw = v[6],
                        .sh = v[7], .sw = v[7], .ph = v[8], .pw = v[8], .dh = v[9], .dw = v[10],
                        .oh = (int)y->shape[2], .ow = (int)y->shape[3]};
    CHECK(g.oh == em_window_out(v[2], v[5], v[7], v[8], v[9], 0) && g.ow == em_window_out(v[3], v[6], v[7], v[8], v[10], 0));
    float *ref = malloc((size_t)em_numel(y) * sizeof(float));
    conv_ref(ref, em_data(x), em_data(w), em_data(b), &g);
    CHECK_CLOSE(max_abs_diff(ref, em_data(y), em_numel(y)), 0, 1e-4);
    free(ref);
    em_tensor_release(y);
    em_tensor_release(x); em_tensor_release(w); em_tensor_release(b);
  }
}

static void test_conv_grad(void) {
  const int cases[][9] = {
    /* n cin h w cout k stride pad dil */
    {2, 2, 6, 5, 3, 3, 1, 0, 1}, {2, 2, 7, 7, 2, 3, 2, 1, 1}, {1, 3, 8, 7, 2, 2, 1, 1, 2}, {2, 3, 4, 4, 2, 1, 1, 0, 1},
    {1, 2, 9, 9, 2, 3, 3, 2, 2}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int *v = cases[c];
    int64_t xs[4] = {v[0], v[1], v[2], v[3]}, ws[4] = {v[4], v[1], v[5], v[5]}, bs[1] = {v[4]};
    em_tensor *in[3] = {rand_tensor(4, xs, -1, 1), rand_tensor(4, ws, -1, 1), rand_tensor(1, bs, -1, 1)};
    em_conv2d_opts o = {.stride = {v[6], v[6]}, .padding = {v[7], v[7]}, .dilation = {v[8], v[8]}};
    double e = gradcheck(f_conv, in, 3, &o, 1e-2);
    CHECK_CLOSE(e, 0, 2e-3);
    for (int k = 0; k < 3; k++) em_tensor_release(in[k]);
  }
}

static void test_pool_hand(void) {
  const float xv[16] = {1, 5, 2, 0, 3, 4, 8, 7, 9, 0, 1, 1, 2, 6, 3, 5};
  int64_t xs[4] = {1, 1, 4, 4};
  em_tensor *x = tensor_of(4, xs, xv);
  x->requires_grad = 1;
  em_pool2d_opts o = {{2, 2}, {2, 2}, {0, 0}, {1, 1}, 0, 1};
  em_tensor *y = em_max_pool2d(x, &o);
  const float want[4] = {5, 8, 9, 5};
  CHECK(y && y->shape[2] == 2 && y->shape[3] == 2);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(em_data(y)[i], want[i], 0);
  /* the gradient lands on the winners: flat positions 1, 6, 8 and 15 */
  const float gv[4] = {1, 2, 3, 4};
  em_tensor *g = tensor_of(4, y->shape, gv);
  CHECK(em_backward(y, g, 0) == 0);
  float dx[16] = {0};
  dx[1] = 1; dx[6] = 2; dx[8] = 3; dx[15] = 4;
  CHECK(x->grad && max_abs_diff(em_data(x->grad), dx, 16) == 0);
  em_tensor_release(y);
  em_tensor_release(x->grad);
  x->grad = NULL;
  /* average: (1+5+3+4)/4, (2+0+8+7)/4, (9+0+2+6)/4, (1+1+3+5)/4 */
  y = em_avg_pool2d(x, &o);
  const float wa[4] = {3.25f, 4.25f, 4.25f, 2.5f};
  for (int i = 0; i < 4; i++) CHECK_CLOSE(em_data(y)[i], wa[i], 1e-7);
  CHECK(em_backward(y, g, 0) == 0);
  CHECK(x->grad && fabsf(em_data(x->grad)[0] - 0.25f) < 1e-7f && fabsf(em_data(x->grad)[15] - 1.0f) < 1e-7f);
  em_tensor_release(y);
  /* 3x3 window, stride 1, padding 1: the corner output averages 4 inputs over 9 (count_include_pad) or 4 */
  em_pool2d_opts o3 = {{3, 3}, {1, 1}, {1, 1}, {1, 1}, 0, 1};
  y = em_avg_pool2d(x, &o3);
  CHECK(y && y->shape[2] == 4);
  CHECK_CLOSE(em_data(y)[0], 13.0 / 9, 1e-6);
  em_tensor_release(y);
  o3.count_include_pad = 0;
  y = em_avg_pool2d(x, &o3);
  CHECK_CLOSE(em_data(y)[0], 13.0 / 4, 1e-6);
  em_tensor_release(y);
  y = em_max_pool2d(x, &o3);
  CHECK_CLOSE(em_data(y)[0], 5, 0);     /* max of 1 5 3 4 */
  CHECK_CLOSE(em_data(y)[5], 9, 0);     /* centre (1,1): 1 5 2 3 4 8 9 0 1 */
  em_tensor_release(y);
  em_tensor_release(g);
  em_tensor_release(x);
}

/* a NaN in a window wins, as in PyTorch, in the 2x2 fast path and the general loop */
static void test_pool_nan(void) {
  float xv[16];
  for (int i = 0; i < 16; i++) xv[i] = (float)i;
  xv[5] = NAN;
  int64_t xs[4] = {1, 1, 4, 4};
  em_tensor *x = tensor_of(4, xs, xv);
  em_pool2d_opts o = {{2, 2}, {2, 2}, {0, 0}, {1, 1}, 0, 1};
  em_tensor *y = em_max_pool2d(x, &o);
  CHECK(isnan(em_data(y)[0]) && em_data(y)[1] == 7);
  em_tensor_release(y);
  em_pool2d_opts o2 = {{2, 2}, {2, 2}, {1, 1}, {1, 1}, 0, 1};   /* general loop */
  y = em_max_pool2d(x, &o2);
  CHECK(y && y->shape[2] == 3 && em_data(y)[0] == 0 && isnan(em_data(y)[4]));
  em_tensor_release(y);
  em_tensor_release(x);
}

static void test_pool_vs_reference(void) {
  const int cases[][9] = {
    /* planes h w k stride pad dil ceil count_include_pad */
    {6, 24, 24, 2, 2, 0, 1, 0, 1}, {3, 7, 9, 3, 2, 1, 1, 0, 1}, {2, 7, 7, 3, 2, 1, 1, 1, 0}, {2, 9, 8, 2, 1, 1, 2, 0, 1},
    {4, 5, 5, 2, 2, 0, 1, 1, 1}, {2, 8, 6, 4, 3, 2, 1, 1, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int *v = cases[c];
    int64_t xs[3] = {v[0], v[1], v[2]};
    em_tensor *x = rand_tensor(3, xs, -1, 1);
    em_pool2d_opts o = {{v[3], v[3]}, {v[4], v[4]}, {v[5], v[5]}, {v[6], v[6]}, v[7], v[8]};
    for (int is_max = 0; is_max < 2; is_max++) {
      if (!is_max && v[6] != 1) continue;
      em_tensor *y = is_max ? em_max_pool2d(x, &o) : em_avg_pool2d(x, &o);
      CHECK(y != NULL);
      if (!y) { fprintf(stderr, "%s\n", em_error()); continue; }
      em_pool2d_geom g = {v[0], v[1], v[2], v[3], v[3], v[4], v[4], v[5], v[5], v[6], v[6],
                          (int)y->shape[1], (int)y->shape[2], v[8]};
      float *ref = malloc((size_t)em_numel(y) * sizeof(float));
      pool_ref(ref, em_data(x), &g, is_max);
      CHECK_CLOSE(max_abs_diff(ref, em_data(y), em_numel(y)), 0, 1e-6);
      if (max_abs_diff(ref, em_data(y), em_numel(y)) > 1e-6) fprintf(stderr, "  case %d max %d\n", (int)c, is_max);
      free(ref);
      em_tensor_release(y);
    }
    em_tensor_release(x);
  }
}

/* values spaced well apart so the +-eps steps never change a window's winner */
static em_tensor *distinct_tensor(int ndim, const int64_t *shape) {
  em_tensor *t = em_tensor_new(ndim, shape);
  int64_t n = em_numel(t);
  int64_t *perm = malloc((size_t)n * sizeof *perm);
  em_rng_permutation(&rng, n, perm);
  for (int64_t i = 0; i < n; i++) em_data(t)[i] = (float)perm[i] * 0.1f;
  free(perm);
  return t;
}

static void test_pool_grad(void) {
  const int cases[][8] = {
    {2, 6, 6, 2, 2, 0, 1, 0}, {2, 7, 5, 3, 2, 1, 1, 1}, {1, 8, 8, 2, 1, 1, 2, 0}, {2, 5, 7, 3, 3, 1, 1, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int *v = cases[c];
    int64_t xs[4] = {1, v[0], v[1], v[2]};
    em_pool2d_opts o = {{v[3], v[3]}, {v[4], v[4]}, {v[5], v[5]}, {v[6], v[6]}, v[7], 1};
    em_tensor *in[1] = {distinct_tensor(4, xs)};
    CHECK_CLOSE(gradcheck(f_maxpool, in, 1, &o, 1e-2), 0, 1e-3);
    if (v[6] == 1) {
      CHECK_CLOSE(gradcheck(f_avgpool, in, 1, &o, 1e-2), 0, 1e-3);
      o.count_include_pad = 0;
      CHECK_CLOSE(gradcheck(f_avgpool, in, 1, &o, 1e-2), 0, 1e-3);
    }
    em_tensor_release(in[0]);
  }
}

static void test_linear(void) {
  /* [1 2; 3 4] w^T with w = [1 0; 0 1; 1 1], b = [0.5, -1, 0] */
  const float xv[4] = {1, 2, 3, 4}, wv[6] = {1, 0, 0, 1, 1, 1}, bv[3] = {0.5f, -1, 0};
  int64_t xs[2] = {2, 2}, ws[2] = {3, 2}, bs[1] = {3};
  em_tensor *x = tensor_of(2, xs, xv), *w = tensor_of(2, ws, wv), *b = tensor_of(1, bs, bv);
  em_tensor *y = em_linear(x, w, b);
  const float want[6] = {1.5f, 1, 3, 3.5f, 3, 7};
  CHECK(y && y->shape[0] == 2 && y->shape[1] == 3);
  CHECK(max_abs_diff(em_data(y), want, 6) == 0);
  em_tensor_release(y);
  em_tensor_release(x); em_tensor_release(w); em_tensor_release(b);
  int64_t x3[3] = {2, 3, 5}, w3[2] = {4, 5}, b3[1] = {4};
  em_tensor *in[3] = {rand_tensor(3, x3, -1, 1), rand_tensor(2, w3, -1, 1), rand_tensor(1, b3, -1, 1)};
  CHECK_CLOSE(gradcheck(f_linear, in, 3, NULL, 1e-2), 0, 1e-3);
  em_tensor_release(in[2]);
  in[2] = NULL;   /* without bias */
  CHECK_CLOSE(gradcheck(f_linear, in, 3, NULL, 1e-2), 0, 1e-3);
  em_tensor_release(in[0]); em_tensor_release(in[1]);
}

static void test_batch_norm(void) {
  /* channel 0 of x (4, 2) holds 1 2 3 4: mean 2.5, biased variance 1.25, unbiased 5/3;
     channel 1 holds 2 4 6 8: mean 5, variance 5, unbiased 20/3 */
  const float xv[8] = {1, 2, 2, 4, 3, 6, 4, 8};
  int64_t xs[2] = {4, 2}, cs[1] = {2};
  em_tensor *x = tensor_of(2, xs, xv);
  em_tensor *rm = em_tensor_zeros(1, cs), *rv = em_tensor_full(1, cs, 1.0f);
  em_tensor *y = em_batch_norm(x, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f);
  CHECK(y != NULL);
  CHECK_CLOSE(em_data(y)[0], -1.5 / sqrt(1.25 + 1e-5), 1e-6);
  CHECK_CLOSE(em_data(y)[7], 3.0 / sqrt(5 + 1e-5), 1e-6);
  CHECK_CLOSE(em_data(rm)[0], 0.25, 1e-7);
  CHECK_CLOSE(em_data(rm)[1], 0.5, 1e-7);
  CHECK_CLOSE(em_data(rv)[0], 0.9 + 0.1 * 5.0 / 3, 1e-6);
  CHECK_CLOSE(em_data(rv)[1], 0.9 + 0.1 * 20.0 / 3, 1e-6);
  em_tensor_release(y);
  /* eval uses the running statistics: (1 - 0.25) / sqrt(rv0 + eps) * 2 + 1 with gamma 2, beta 1 */
  em_tensor *gm = em_tensor_full(1, cs, 2.0f), *bt = em_tensor_full(1, cs, 1.0f);
  y = em_batch_norm(x, gm, bt, rm, rv, 0, 0.1f, 1e-5f);
  CHECK_CLOSE(em_data(y)[0], 0.75 / sqrt(0.9 + 0.5 / 3 + 1e-5) * 2 + 1, 1e-6);
  CHECK_CLOSE(em_data(rm)[0], 0.25, 1e-7);   /* eval leaves them alone */
  em_tensor_release(y);
  /* gradients, training (batch statistics) and eval, 2-d and 4-d inputs */
  int64_t x4[4] = {3, 2, 3, 2};
  em_tensor *in[3] = {rand_tensor(4, x4, -2, 2), rand_tensor(1, cs, 0.5f, 1.5f), rand_tensor(1, cs, -1, 1)};
  CHECK_CLOSE(gradcheck(f_bn_train, in, 3, NULL, 1e-2), 0, 1e-2);
  em_tensor *rs[2] = {rm, rv};
  CHECK_CLOSE(gradcheck(f_bn_eval, in, 3, rs, 1e-2), 0, 1e-3);
  em_tensor_release(in[0]);
  int64_t x2[2] = {5, 2};
  in[0] = rand_tensor(2, x2, -2, 2);
  CHECK_CLOSE(gradcheck(f_bn_train, in, 3, NULL, 1e-2), 0, 1e-2);
  em_tensor_release(in[1]); em_tensor_release(in[2]);
  in[1] = in[2] = NULL;   /* affine = false */
  CHECK_CLOSE(gradcheck(f_bn_train, in, 3, NULL, 1e-2), 0, 1e-2);
  em_tensor_release(in[0]);
  em_tensor_release(gm); em_tensor_release(bt); em_tensor_release(rm); em_tensor_release(rv); em_tensor_release(x);
}

static void test_dropout(void) {
  int64_t s[1] = {100000};
  em_tensor *x = em_tensor_full(1, s, 1.0f);
  x->requires_grad = 1;
  em_tensor *y = em_dropout(x, 0.3f, &rng);
  int64_t kept = 0;
  int ok = 1;
  for (int64_t i = 0; i < s[0]; i++) {
    float v = em_data(y)[i];
    if (v != 0) { kept++; ok &= fabsf(v - 1 / 0.7f) < 1e-6f; }
  }
  CHECK(ok);
  /* kept ~ Binomial(1e5, 0.7): sd 145, so 5 sd is 725 */
  CHECK(llabs(kept - 70000) < 725);
  em_tensor *g = em_tensor_full(1, s, 2.0f);
  CHECK(em_backward(y, g, 0) == 0);
  ok = 1;   /* the gradient goes through the same mask */
  for (int64_t i = 0; i < s[0]; i++) ok &= em_data(x->grad)[i] == 2.0f * em_data(y)[i];
  CHECK(ok);
  em_tensor_release(y);
  y = em_dropout(x, 1.0f, &rng);
  CHECK(em_data(y)[0] == 0 && em_data(y)[s[0] - 1] == 0);
  em_tensor_release(y);
  /* same seed, same mask */
  em_rng a, b;
  em_rng_seed(&a, 7);
  em_rng_seed(&b, 7);
  em_tensor *y1 = em_dropout(x, 0.5f, &a), *y2 = em_dropout(x, 0.5f, &b);
  CHECK(max_abs_diff(em_data(y1), em_data(y2), s[0]) == 0);
  em_tensor_release(y1); em_tensor_release(y2);
  CHECK(em_dropout(x, 1.5f, &rng) == NULL);
  CHECK_STR_CONTAINS(em_error(), "dropout: p must be in [0, 1] (got 1.5)");
  em_tensor_release(g);
  em_tensor_release(x);
}

static void test_errors(void) {
  int64_t xs[4] = {64, 3, 28, 28}, ws[4] = {10, 1, 5, 5}, small[4] = {2, 1, 3, 3};
  em_tensor *x = em_tensor_zeros(4, xs), *w = em_tensor_zeros(4, ws), *s = em_tensor_zeros(4, small);
  em_conv2d_opts o = {.stride = {1, 1}, .padding = {0, 0}, .dilation = {1, 1}};
  CHECK(em_conv2d(x, w, NULL, &o) == NULL);
  CHECK_STR_CONTAINS(em_error(), "conv2d: input [64 x 3 x 28 x 28] has 3 channels but weight [10 x 1 x 5 x 5] expects 1");
  CHECK(em_conv2d(s, w, NULL, &o) == NULL);
  CHECK_STR_CONTAINS(em_error(), "conv2d: input [2 x 1 x 3 x 3] is smaller than the kernel (5 x 5");
  em_pool2d_opts p = {{2, 2}, {2, 2}, {2, 2}, {1, 1}, 0, 1};
  CHECK(em_max_pool2d(s, &p) == NULL);
  CHECK_STR_CONTAINS(em_error(), "max_pool2d: padding must be at most half the kernel size (got padding 2, kernel 2)");
  em_pool2d_opts p4 = {{4, 4}, {4, 4}, {0, 0}, {1, 1}, 0, 1};
  CHECK(em_avg_pool2d(s, &p4) == NULL);
  CHECK_STR_CONTAINS(em_error(), "avg_pool2d: input [2 x 1 x 3 x 3] is smaller than the kernel (4 x 4");
  int64_t ls[2] = {64, 784}, lw[2] = {10, 320};
  em_tensor *lx = em_tensor_zeros(2, ls), *lwt = em_tensor_zeros(2, lw);
  CHECK(em_linear(lx, lwt, NULL) == NULL);
  CHECK_STR_CONTAINS(em_error(), "linear: input [64 x 784] does not end in 320 features (weight [10 x 320])");
  int64_t one[2] = {1, 4};
  em_tensor *b1 = em_tensor_zeros(2, one);
  CHECK(em_batch_norm(b1, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f) == NULL);
  CHECK_STR_CONTAINS(em_error(), "batch_norm: expected more than 1 value per channel when training (input [1 x 4])");
  em_tensor_release(b1); em_tensor_release(lx); em_tensor_release(lwt);
  em_tensor_release(x); em_tensor_release(w); em_tensor_release(s);
}

int main(void) {
  em_rng_seed(&rng, 1234);
  test_window_out();
  test_conv_hand();
  test_conv_vs_reference();
  test_conv_grad();
  test_pool_hand();
  test_pool_nan();
  test_pool_vs_reference();
  test_pool_grad();
  test_linear();
  test_batch_norm();
  test_dropout();
  test_errors();
  return CHECK_DONE();
}
