/* conv_direct_kernels.h - the kernels of conv_direct.c for one instruction set, included once per set
   with these defined (it undefines them, and cd_imask, at its end, so the next set starts clean):
   CD_V (lanes: images per vector), CD_VEC (the vector type), CD_LOAD(p),
   CD_STORE(p, v), CD_FMA(a, b, c) (a * b + c, fused), CD_SET1(x), CD_ZERO(), CD_ADD(a, b), CD_HSUM(v)
   (the sum of the lanes, in a fixed order), CD_ILO(a, b) / CD_IHI(a, b) (the low / high halves of a
   and b interleaved: a0 b0 a1 b1 ...), CD_FB (output channels per block of the forward kernel) and
   CD_WB (per block of the weight gradient), CD_FN(name) (name with the set's suffix).

   Layout: a group of CD_V images is stored "lane-major", (C, H, W, CD_V): image l of the group is lane
   l of every vector. Each kernel below computes every output element with the same sequence of
   operations wherever the block boundaries fall, so how the work is cut never changes the bits. */

/* r[i] = row i of a CD_V x CD_V matrix -> r[i] = column i: log2(CD_V) rounds of interleaving rows i and
   i + CD_V / 2 (a perfect shuffle of the index bits each round) */
static inline void CD_FN(transpose)(CD_VEC *r) {
  CD_VEC t[CD_V];
  for (int round = 1; round < CD_V; round *= 2) {
    for (int i = 0; i < CD_V / 2; i++) {
      t[2 * i] = CD_ILO(r[i], r[i + CD_V / 2]);
      t[2 * i + 1] = CD_IHI(r[i], r[i + CD_V / 2]);
    }
    for (int i = 0; i < CD_V; i++) r[i] = t[i];
  }
}

/* dst (C, Hp, Wp, V) from count (<= V) images, image l at src + l * img (C, H, W), placed at rows
   pt.., columns pl..; the border and the lanes of missing images are 0 */
static void CD_FN(pack)(float *restrict dst, const float *restrict src, int64_t img, int count, int C, int H,
                        int W, int Hp, int Wp, int pt, int pl) {
  const int64_t Q = (int64_t)C * H * W;
  const int padded = Hp != H || Wp != W;
  if (count < CD_V) memset(dst, 0, (size_t)C * Hp * Wp * CD_V * sizeof(float));
  else if (padded)   /* the border only: the input gradient pads the output gradient by up to 4x its size */
    for (int c = 0; c < C; c++)
      for (int y = 0; y < Hp; y++) {
        float *row = dst + ((int64_t)c * Hp + y) * Wp * CD_V;
        if (y < pt || y >= pt + H) { memset(row, 0, (size_t)Wp * CD_V * sizeof(float)); continue; }
        memset(row, 0, (size_t)pl * CD_V * sizeof(float));
        memset(row + (int64_t)(pl + W) * CD_V, 0, (size_t)(Wp - pl - W) * CD_V * sizeof(float));
      }
  int64_t p = 0;
  int c = 0, y = 0, x = 0;   /* where position p lies in the image */
  if (count == CD_V) {
    for (; p + CD_V <= Q; p += CD_V) {
      CD_VEC r[CD_V];
      for (int l = 0; l < CD_V; l++) r[l] = CD_LOAD(src + l * img + p);
      CD_FN(transpose)(r);
      if (!padded) {
        for (int i = 0; i < CD_V; i++) CD_STORE(dst + (p + i) * CD_V, r[i]);
        continue;
      }
      for (int i = 0; i < CD_V; i++) {
        CD_STORE(dst + (((int64_t)c * Hp + y + pt) * Wp + x + pl) * CD_V, r[i]);
        if (++x == W) { x = 0; if (++y == H) { y = 0; c++; } }
      }
    }
  }
  c = (int)(p / ((int64_t)H * W));
  y = (int)(p / W % H);
  x = (int)(p % W);
  for (; p < Q; p++) {
    float *d = dst + (((int64_t)c * Hp + y + pt) * Wp + x + pl) * CD_V;
    for (int l = 0; l < count; l++) d[l] = src[l * img + p];
    if (++x == W) { x = 0; if (++y == H) { y = 0; c++; } }
  }
}

/* the inverse for positions [p0, p1) of (C, H, W): image l (at dst + l * img) gets lane l of
   src (positions, V), for l < count; add != 0 adds to dst instead of writing it */
static void CD_FN(unpack)(float *restrict dst, int64_t img, const float *restrict src, int count, int64_t p0,
                          int64_t p1, int add) {
  int64_t p = p0;
  if (count == CD_V)
    for (; p + CD_V <= p1; p += CD_V) {
      CD_VEC r[CD_V];
      for (int i = 0; i < CD_V; i++) r[i] = CD_LOAD(src + (p + i) * CD_V);
      CD_FN(transpose)(r);
      for (int l = 0; l < CD_V; l++) {
        float *d = dst + l * img + p;
        CD_STORE(d, add ? CD_ADD(CD_LOAD(d), r[l]) : r[l]);
      }
    }
  for (; p < p1; p++)
    for (int l = 0; l < count; l++) {
      float *d = dst + l * img + p;
      *d = add ? *d + src[p * CD_V + l] : src[p * CD_V + l];
    }
}

/* one block of the forward kernel: y[co][oh][ow] for co in [co, co + CB), ow in [ow, ow + OWB):
   b[co] + sum over (ci, i, j) in that order of w[co][ci][i][j] x[ci][oh + i dh][ow + j dw], leaving out
   the taps i outside [i0, i1) and j outside [j0, j1), which read only the zero border */
static inline __attribute__((always_inline)) void CD_FN(forward_block)(float *restrict y, const float *restrict x,
    const float *restrict w, const float *restrict b, const cd_shape *s, int co, int oh, int ow, int i0, int i1,
    const int CB, const int OWB) {
  CD_VEC acc[CD_FB][4];
  for (int c = 0; c < CB; c++)
    for (int o = 0; o < OWB; o++) acc[c][o] = b ? CD_SET1(b[co + c]) : CD_ZERO();
  const int K1 = s->kh * s->kw;
  /* taps j whose columns ow + o + j dw (o < OWB) reach the interior [c0, c1) */
  int j0 = s->c0 - ow - OWB + 1 > 0 ? (s->c0 - ow - OWB + 1 + s->dw - 1) / s->dw : 0;
  int j1 = s->c1 - 1 - ow >= 0 ? (s->c1 - 1 - ow) / s->dw + 1 : 0;
  if (j1 > s->kw) j1 = s->kw;
  for (int ci = 0; ci < s->cin; ci++)
    for (int i = i0; i < i1; i++) {
      const float *xr = x + (((int64_t)ci * s->hp + oh + i * s->dh) * s->wp + ow) * CD_V;
      const float *wr = w + ((int64_t)co * s->cin + ci) * K1 + i * s->kw;
      for (int j = j0; j < j1; j++) {
        CD_VEC xv[4];
        for (int o = 0; o < OWB; o++) xv[o] = CD_LOAD(xr + (o + j * s->dw) * CD_V);
        for (int c = 0; c < CB; c++) {
          const CD_VEC wv = CD_SET1(wr[(int64_t)c * s->cin * K1 + j]);
          for (int o = 0; o < OWB; o++) acc[c][o] = CD_FMA(wv, xv[o], acc[c][o]);
        }
      }
    }
  for (int c = 0; c < CB; c++)
    for (int o = 0; o < OWB; o++) CD_STORE(y + (((int64_t)(co + c) * s->oh + oh) * s->ow + ow + o) * CD_V, acc[c][o]);
}

/* the blocks of output channels [co0, co0 + cb) (cb <= CD_FB) over every output position */
static inline __attribute__((always_inline)) void CD_FN(forward_rows)(float *y, const float *x, const float *w,
    const float *b, const cd_shape *s, int co0, const int CB) {
  for (int oh = 0; oh < s->oh; oh++) {
    /* taps i whose row oh + i dh lies in the interior [r0, r1) */
    int i0 = s->r0 - oh > 0 ? (s->r0 - oh + s->dh - 1) / s->dh : 0;
    int i1 = s->r1 - 1 - oh >= 0 ? (s->r1 - 1 - oh) / s->dh + 1 : 0;
    if (i1 > s->kh) i1 = s->kh;
    int ow = 0;
    for (; ow + 4 <= s->ow; ow += 4) CD_FN(forward_block)(y, x, w, b, s, co0, oh, ow, i0, i1, CB, 4);
    for (; ow < s->ow; ow++) CD_FN(forward_block)(y, x, w, b, s, co0, oh, ow, i0, i1, CB, 1);
  }
}

/* y (Cout, OH, OW, V) for output channels [co0, co1) from x (Cin, Hp, Wp, V), w (Cout, Cin, kh, kw),
   b (Cout) or NULL: stride 1, dilation (dh, dw); x is already padded, zero outside rows [r0, r1) and
   columns [c0, c1) */
static void CD_FN(forward)(float *y, const float *x, const float *w, const float *b, const cd_shape *s, int co0,
                           int co1) {
  int co = co0;
  for (; co + CD_FB <= co1; co += CD_FB) CD_FN(forward_rows)(y, x, w, b, s, co, CD_FB);
  switch (co1 - co) {   /* the rest, as one narrower block: constant widths keep the accumulators in registers */
#if CD_FB > 4
  case 4: CD_FN(forward_rows)(y, x, w, b, s, co, 4); break;
#endif
#if CD_FB > 3
  case 3: CD_FN(forward_rows)(y, x, w, b, s, co, 3); break;
#endif
#if CD_FB > 2
  case 2: CD_FN(forward_rows)(y, x, w, b, s, co, 2); break;
#endif
  case 1: CD_FN(forward_rows)(y, x, w, b, s, co, 1); break;
  default: break;
  }
}

/* one block of the weight gradient: for co in [co, co + CB) and taps j in [j, j + J) of row i of input
   channel ci, part[co][ci][i][j] = the lane sum of sum over (oh, ow) in order of g[co][oh][ow] x[ci][oh + i dh][ow + j dw].
   g is (Cout, OH, OW, V) inside rows of gw vectors (the padded gradient buffer: it starts at g) */
static inline __attribute__((always_inline)) void CD_FN(wgrad_block)(float *restrict part, const float *restrict g,
    int64_t gplane, int gw, const float *restrict x, const cd_shape *s, int co, int ci, int i, int j, const int CB,
    const int J) {
  CD_VEC acc[CD_WB][5];
  for (int c = 0; c < CB; c++)
    for (int t = 0; t < J; t++) acc[c][t] = CD_ZERO();
  for (int oh = 0; oh < s->oh; oh++) {
    const float *gr = g + ((int64_t)co * gplane + (int64_t)oh * gw) * CD_V;
    const float *xr = x + (((int64_t)ci * s->hp + oh + i * s->dh) * s->wp + j * s->dw) * CD_V;
    for (int ow = 0; ow < s->ow; ow++) {
      CD_VEC gv[CD_WB], xv[5];
      for (int c = 0; c < CB; c++) gv[c] = CD_LOAD(gr + ((int64_t)c * gplane + ow) * CD_V);
      for (int t = 0; t < J; t++) xv[t] = CD_LOAD(xr + (ow + t * s->dw) * CD_V);
      for (int c = 0; c < CB; c++)
        for (int t = 0; t < J; t++) acc[c][t] = CD_FMA(gv[c], xv[t], acc[c][t]);
    }
  }
  const int K1 = s->kh * s->kw;
  for (int c = 0; c < CB; c++)
    for (int t = 0; t < J; t++) part[((int64_t)(co + c) * s->cin + ci) * K1 + i * s->kw + j + t] = CD_HSUM(acc[c][t]);
}

static inline __attribute__((always_inline)) void CD_FN(wgrad_taps)(float *part, const float *g, int64_t gplane,
    int gw, const float *x, const cd_shape *s, int co, const int CB) {
  for (int ci = 0; ci < s->cin; ci++)
    for (int i = 0; i < s->kh; i++) {
      int j = 0;
      for (; j + 5 <= s->kw; j += 5) CD_FN(wgrad_block)(part, g, gplane, gw, x, s, co, ci, i, j, CB, 5);
      switch (s->kw - j) {
      case 4: CD_FN(wgrad_block)(part, g, gplane, gw, x, s, co, ci, i, j, CB, 4); break;
      case 3: CD_FN(wgrad_block)(part, g, gplane, gw, x, s, co, ci, i, j, CB, 3); break;
      case 2: CD_FN(wgrad_block)(part, g, gplane, gw, x, s, co, ci, i, j, CB, 2); break;
      case 1: CD_FN(wgrad_block)(part, g, gplane, gw, x, s, co, ci, i, j, CB, 1); break;
      default: break;
      }
    }
}

/* part (Cout, Cin, kh, kw) (when not NULL) = the weight gradient of one group for output channels
   [co0, co1), and bpart[co] (when not NULL) the lane sum of sum over (oh, ow) of g[co][oh][ow] */
static void CD_FN(wgrad)(float *part, float *bpart, const float *g, int64_t gplane, int gw, const float *x,
                         const cd_shape *s, int co0, int co1) {
  int co = co0;
  if (!part) co = co1;   /* the bias gradient alone */
  for (; co + CD_WB <= co1; co += CD_WB) CD_FN(wgrad_taps)(part, g, gplane, gw, x, s, co, CD_WB);
  switch (co1 - co) {
#if CD_WB > 3
  case 3: CD_FN(wgrad_taps)(part, g, gplane, gw, x, s, co, 3); break;
#endif
#if CD_WB > 2
  case 2: CD_FN(wgrad_taps)(part, g, gplane, gw, x, s, co, 2); break;
#endif
  case 1: CD_FN(wgrad_taps)(part, g, gplane, gw, x, s, co, 1); break;
  default: break;
  }
  if (bpart)
    for (co = co0; co < co1; co++) {
      CD_VEC acc = CD_ZERO();
      for (int oh = 0; oh < s->oh; oh++)
        for (int ow = 0; ow < s->ow; ow++) acc = CD_ADD(acc, CD_LOAD(g + ((int64_t)co * gplane + (int64_t)oh * gw + ow) * CD_V));
      bpart[co] = CD_HSUM(acc);
    }
}

#undef cd_imask
#undef CD_V
#undef CD_VEC
#undef CD_LOAD
#undef CD_STORE
#undef CD_FMA
#undef CD_SET1
#undef CD_ZERO
#undef CD_ADD
#undef CD_HSUM
#undef CD_ILO
#undef CD_IHI
#undef CD_FB
#undef CD_WB
#undef CD_FN
