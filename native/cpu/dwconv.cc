// Depthwise conv2d kernels. Five paths, each under its banner below; "Dispatch" at the end picks one
// per call (forward and input gradient share paths 1-4: at stride 1 the input gradient is the
// forward pass with the kernel flipped):
//  1. reference: plain loops over one (n, c) plane per task; every stride and padding. All three
//     passes at stride > 1, and the input gradient when the padding exceeds K - 1.
//  2. blocked: stride 1, the default (large kernels). Channels are interleaved in groups of kVL so
//     one vector holds one pixel of kVL channels; one register-blocked sliding-window microkernel
//     (correlate_tile) serves the forward pass, the input gradient and the weight gradient (the
//     "kernel" is then grad_y and the "output" is the weight gradient).
//  3. streaming: stride 1, small square kernels (kStreams: 3x3 to 9x9 on AVX-512, to 7x7 on AVX2)
//     on rows that fill >= 80% of their vectors: straight on the NCHW planes, each input row
//     loaded once for all KH output rows it feeds (stream_plane). No packing of x.
//  4. planar: stride 1, kernels of at most 9 taps that streaming does not take, on rows of at
//     least two vectors: path 2's register tiles on one NCHW plane (taps broadcast).
//  5. streaming weight gradient: stride 1, 3x3, the same row condition as 3: one accumulator per
//     tap on the NCHW planes, no packing (which dominates path 2's weight gradient there).
// At stride 1 every path first gets the kernel cut to the taps that ever meet the input
// (with_useful_taps, for maps smaller than the kernel).
#include "dwconv.h"

#include <cstring>

#include "parallel.h"
#include "simd.h"

namespace LK_ISA_NS {

using lk::DwConvShape;

// ---------------------------------------------------------------------------------------------
// Path 1: reference (every stride and padding).

static void forward_reference(const DwConvShape& s, const float* x, const float* weight, const float* bias, float* y) {
  lk::parallel_for(s.n * s.c, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % s.c;
      const float* xp = x + p * s.h * s.w;
      const float* wc = weight + c * s.kh * s.kw;
      float* yp = y + p * s.oh * s.ow;
      for (int64_t oy = 0; oy < s.oh; ++oy)
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          float acc = bias ? bias[c] : 0.f;
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t iy = oy * s.sh - s.ph + ky;
            if (iy < 0 || iy >= s.h) continue;
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const int64_t ix = ox * s.sw - s.pw + kx;
              if (ix >= 0 && ix < s.w) acc += xp[iy * s.w + ix] * wc[ky * s.kw + kx];
            }
          }
          yp[oy * s.ow + ox] = acc;
        }
    }
  });
}

// Scatters each output gradient back over the input window it came from.
static void backward_input_reference(const DwConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  lk::parallel_for(s.n * s.c, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % s.c;
      const float* gy = grad_y + p * s.oh * s.ow;
      const float* wc = weight + c * s.kh * s.kw;
      float* gx = grad_x + p * s.h * s.w;
      std::memset(gx, 0, sizeof(float) * s.h * s.w);
      for (int64_t oy = 0; oy < s.oh; ++oy)
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          const float g = gy[oy * s.ow + ox];
          for (int64_t ky = 0; ky < s.kh; ++ky) {
            const int64_t iy = oy * s.sh - s.ph + ky;
            if (iy < 0 || iy >= s.h) continue;
            for (int64_t kx = 0; kx < s.kw; ++kx) {
              const int64_t ix = ox * s.sw - s.pw + kx;
              if (ix >= 0 && ix < s.w) gx[iy * s.w + ix] += g * wc[ky * s.kw + kx];
            }
          }
        }
    }
  });
}

static void backward_weight_reference(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  lk::parallel_for(s.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t ky = 0; ky < s.kh; ++ky)
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          double acc = 0;  // long reductions (n * oh * ow terms)
          for (int64_t n = 0; n < s.n; ++n) {
            const float* xp = x + (n * s.c + c) * s.h * s.w;
            const float* gy = grad_y + (n * s.c + c) * s.oh * s.ow;
            for (int64_t oy = 0; oy < s.oh; ++oy) {
              const int64_t iy = oy * s.sh - s.ph + ky;
              if (iy < 0 || iy >= s.h) continue;
              for (int64_t ox = 0; ox < s.ow; ++ox) {
                const int64_t ix = ox * s.sw - s.pw + kx;
                if (ix >= 0 && ix < s.w) acc += double(gy[oy * s.ow + ox]) * xp[iy * s.w + ix];
              }
            }
          }
          grad_weight[(c * s.kh + ky) * s.kw + kx] = float(acc);
        }
  });
}

// ---------------------------------------------------------------------------------------------
// Path 2: blocked (stride 1). A "block" is kVL channels of one image stored pixel-interleaved:
// [rows][cols][kVL], zero lanes past C, so every vector load is one pixel and no lane is wasted.

constexpr int64_t V = kVL;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One sliding-window correlation; forward, input gradient and weight gradient are all this,
// with different roles for "in", "taps" and "out":
//   out[o][q] += sum over r, t of in[r][q + t] * taps[r + shift - o][t]
// Rows of `in` outside [in_lo, in_hi) are zero and skipped; so are columns outside
// [col_lo, col_hi) when a whole tile only sees them there (they are stored as zeros).
// Two layouts: blocked (a pixel is kVL channels, one vector; taps are vectors too) and planar
// (one NCHW plane; a vector is kVL neighbouring pixels and each tap is one broadcast float).
constexpr int64_t kNoClip = int64_t(1) << 62;

struct Correlation {
  const float* in;         // row in_lo of the input
  int64_t in_lo, in_hi;    // valid input rows
  int64_t in_stride;       // floats per input row
  int64_t col_lo, col_hi;  // input columns (pixels) that hold data (the rest is zero padding)
  const float* taps;       // [tap_rows + 2 ][tap_cols] pixels: R-1 zero rows above and below
  int64_t tap_rows, tap_cols;
  int64_t shift;
  // Stores are clipped to out_rows x out_cols (pixels), so a tile may write straight into an
  // NCHW plane; scratch outputs sized to whole tiles leave these at kNoClip.
  int64_t out_rows = kNoClip, out_cols = kNoClip;
};

// Register tile: R output rows x B output vectors (R*B accumulators). Per (input row, tap
// column): B input vectors and R taps feed R*B FMAs; the zero tap rows make the rows near the
// top and bottom edge branch-free. q0 is the tile's first output column (pixels).
// The accumulators start from `init` (one vector for all) or, when it is null, from `out`.
template <int R, int B, bool Planar>
static void correlate_tile(const Correlation& a, int64_t o0, int64_t q0, const float* init, float* out,
                           int64_t out_stride) {
  constexpr int64_t pixel_floats = Planar ? 1 : V;   // floats per pixel
  constexpr int64_t vector_pixels = Planar ? V : 1;  // pixels per vector
  vf acc[R][B];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < B; ++j) acc[i][j] = init ? vload(init) : vload(out + i * out_stride + j * V);
  const int64_t r0 = imax(a.in_lo, o0 - a.shift), r1 = imin(a.in_hi, o0 + R - 1 - a.shift + a.tap_rows);
  const int64_t t0 = imax(0, a.col_lo - q0 - B * vector_pixels + 1), t1 = imin(a.tap_cols, a.col_hi - q0);
  const int64_t tap_row_floats = a.tap_cols * pixel_floats;
  for (int64_t r = r0; r < r1; ++r) {
    const float* in_row = a.in + (r - a.in_lo) * a.in_stride + q0 * pixel_floats;
    // Tap row for output row o0 (padded index); output row o0 + i uses the row i above it.
    const float* tap_row = a.taps + (r + a.shift - o0 + R - 1) * tap_row_floats;
    for (int64_t t = t0; t < t1; ++t) {
      vf xin[B];
#pragma GCC unroll 16
      for (int j = 0; j < B; ++j) xin[j] = vload(in_row + (t + j * vector_pixels) * pixel_floats);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const float* tp = tap_row - i * tap_row_floats + t * pixel_floats;
        const vf tap = Planar ? vset1(*tp) : vload(tp);
#pragma GCC unroll 16
        for (int j = 0; j < B; ++j) acc[i][j] = vfma(xin[j], tap, acc[i][j]);
      }
    }
  }
  const int64_t rows = imin(R, a.out_rows - o0);
  if (rows == R && q0 + B * vector_pixels <= a.out_cols) {
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < B; ++j) vstore(out + i * out_stride + j * V, acc[i][j]);
    return;
  }
  for (int i = 0; i < rows; ++i)  // a tile over the edge of a clipped output
    for (int j = 0; j < B; ++j) {
      const int64_t left = a.out_cols - q0 - j * vector_pixels;  // pixels
      if (left >= vector_pixels)
        vstore(out + i * out_stride + j * V, acc[i][j]);
      else if (left > 0)
        vstore_n(out + i * out_stride + j * V, acc[i][j], int(left));
    }
}

using TileFn = void (*)(const Correlation&, int64_t, int64_t, const float*, float*, int64_t);
struct Tile {
  int r, b;
  TileFn blocked, planar;
};
#define LK_TILE(R, B) \
  { R, B, correlate_tile<R, B, false>, correlate_tile<R, B, true> }

// Tiles that fit the register file: accumulators + inputs held for reuse (B when R > 1; with one
// row each input feeds one FMA straight from memory) + 1 tap <= 32 zmm / 16 ymm. One-row tiles
// waste nothing at the top and bottom edge, which matters for small kernels.
#if defined(LK_ISA_AVX512)
static const Tile kTiles[] = {LK_TILE(4, 6), LK_TILE(4, 5), LK_TILE(4, 4), LK_TILE(3, 7),  LK_TILE(4, 3),
                              LK_TILE(4, 2), LK_TILE(4, 1), LK_TILE(2, 8), LK_TILE(1, 12), LK_TILE(1, 14),
                              LK_TILE(1, 8), LK_TILE(1, 7), LK_TILE(2, 4), LK_TILE(1, 4)};
#else
static const Tile kTiles[] = {LK_TILE(2, 5), LK_TILE(3, 3), LK_TILE(2, 4), LK_TILE(2, 3),
                              LK_TILE(2, 2), LK_TILE(2, 1), LK_TILE(1, 7), LK_TILE(1, 4)};
#endif
#undef LK_TILE

// The tile with the least work for an out_rows x out_cols output of a correlation with tap_rows
// rows: rounding waste, the zero tap rows an R-row tile sweeps at the edges ((tap_rows + R - 1) /
// tap_rows), and the load overhead (loads per FMA).
static Tile pick_tile(int64_t out_rows, int64_t out_cols, int64_t tap_rows) {
  Tile best = kTiles[0];
  double best_cost = 1e300;
  for (const Tile& t : kTiles) {
    const double cells = double(ceil_div(out_rows, t.r) * t.r) * double(ceil_div(out_cols, t.b) * t.b);
    const double edge = double(tap_rows + t.r - 1) / double(tap_rows);
    const double loads = t.r == 1 ? double(t.b + 1) / double(t.b) : double(t.r + t.b) / double(t.r * t.b);
    const double cost = cells * edge * (1.0 + 0.5 * loads);
    if (cost < best_cost) best_cost = cost, best = t;
  }
  return best;
}

// Packs rows [r_lo, r_hi) of `lanes` NCHW planes (plane_stride apart, from src) into a block
// whose row r_lo starts at dst: row_pixels pixels per row, data at [col_off, col_off + w),
// zeros elsewhere and in lanes past `lanes`, so the block needs no clearing beforehand.
static void pack_block(const float* src, int64_t lanes, int64_t plane_stride, int64_t r_lo, int64_t r_hi, int64_t w,
                       float* dst, int64_t row_pixels, int64_t col_off) {
  for (int64_t r = r_lo; r < r_hi; ++r) {
    float* d = dst + (r - r_lo) * row_pixels * V;
    std::memset(d, 0, sizeof(float) * col_off * V);
    std::memset(d + (col_off + w) * V, 0, sizeof(float) * (row_pixels - col_off - w) * V);
    for (int64_t c = 0; c < w; c += V) {
      const int m = int(imin(V, w - c));
      vf t[kVL];
      for (int l = 0; l < kVL; ++l) t[l] = l < lanes ? vload_n(src + l * plane_stride + r * w + c, m) : vzero();
      vtranspose(t);
      for (int p = 0; p < m; ++p) vstore(d + (col_off + c + p) * V, t[p]);
    }
  }
}

// The inverse: block rows [r_lo, r_hi) (row r_lo at src, src_row_pixels apart, data in columns
// [0, w)) into NCHW planes.
static void unpack_block(const float* src, int64_t src_row_pixels, int64_t lanes, int64_t r_lo, int64_t r_hi, int64_t w,
                         float* dst, int64_t plane_stride) {
  for (int64_t r = r_lo; r < r_hi; ++r) {
    const float* s = src + (r - r_lo) * src_row_pixels * V;
    for (int64_t c = 0; c < w; c += V) {
      const int m = int(imin(V, w - c));
      vf t[kVL];
      for (int p = 0; p < kVL; ++p) t[p] = p < m ? vload(s + (c + p) * V) : vzero();
      vtranspose(t);
      for (int64_t l = 0; l < lanes; ++l) vstore_n(dst + l * plane_stride + r * w + c, t[l], m);
    }
  }
}

// Per-thread scratch that only grows: every call on a thread reuses it, so repeated calls do
// not pay page faults on fresh memory. Never freed (the pool's threads live as long as the process).
static float* thread_workspace(int64_t floats) {
  static thread_local lk::Scratch* ws = nullptr;
  static thread_local int64_t size = 0;
  if (floats > size) {
    delete ws;
    ws = nullptr;  // stays consistent if the allocation below throws (the pool reports it to JS)
    size = 0;
    ws = new lk::Scratch(floats);
    size = floats;
  }
  return ws->data();
}

static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Kernel taps as [C/group][KH + 2 pad_rows][KW][group] (group = V for the blocked layout, 1 for
// planar), optionally flipped (for the input gradient), with pad_rows zero rows above and below.
static void pack_kernel(const DwConvShape& s, const float* weight, bool flip, int64_t pad_rows, int64_t group,
                        float* dst) {
  const int64_t rows = s.kh + 2 * pad_rows, blocks = ceil_div(s.c, group), row_floats = s.kw * group;
  // Written in order, one channel block per task: this runs on every call, and at small maps
  // (7x7, C = 1024) a scattered, serial packing cost as much as the convolution.
  lk::parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t cb = b0; cb < b1; ++cb) {
      float* blk = dst + cb * rows * row_floats;
      std::memset(blk, 0, sizeof(float) * pad_rows * row_floats);
      std::memset(blk + (pad_rows + s.kh) * row_floats, 0, sizeof(float) * pad_rows * row_floats);
      const int64_t lanes = imin(group, s.c - cb * group);
      if (group == V) {  // the block's K*K taps are one "row" of K*K pixels: transpose it in
        float* taps = blk + pad_rows * row_floats;
        const int64_t kk = s.kh * s.kw;
        pack_block(weight + cb * V * kk, lanes, kk, 0, 1, kk, taps, kk, 0);
        if (flip)  // rotating the kernel by 180 degrees reverses the order of its taps
          for (int64_t i = 0, j = kk - 1; i < j; ++i, --j) {
            const vf a = vload(taps + i * V), b = vload(taps + j * V);
            vstore(taps + i * V, b);
            vstore(taps + j * V, a);
          }
        continue;
      }
      for (int64_t ky = 0; ky < s.kh; ++ky) {
        float* row = blk + (ky + pad_rows) * row_floats;
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          const int64_t src = flip ? (s.kh - 1 - ky) * s.kw + s.kw - 1 - kx : ky * s.kw + kx;
          for (int64_t l = 0; l < lanes; ++l) row[kx * group + l] = weight[(cb * group + l) * s.kh * s.kw + src];
          for (int64_t l = lanes; l < group; ++l) row[kx * group + l] = 0.f;
        }
      }
    }
  });
}

// Tasks so that each thread gets about two: (n, channel block) pairs, split into row chunks
// when there are fewer pairs than that.
static int64_t row_chunks(int64_t pairs, int64_t row_tiles) {
  return imax(1, imin(row_tiles, ceil_div(2 * lk::num_threads(), pairs)));
}

// Stride-1 forward on the blocked layout: y = correlate(x, kernel) (+ bias). With flip, the
// kernel is rotated 180 degrees, which turns this into the input gradient (see below).
static void forward_blocked(const DwConvShape& s, const float* x, const float* weight, bool flip, const float* bias,
                            float* y) {
  const Tile tile = pick_tile(s.oh, s.ow, s.kh);
  const int64_t blocks = ceil_div(s.c, V);
  const int64_t ow_up = round_up(s.ow, tile.b);
  const int64_t in_pixels = ow_up + s.kw - 1;  // >= W + 2 pw: room for the last tile's reads
  const int64_t tap_rows = s.kh + 2 * (tile.r - 1);
  lk::Scratch taps(blocks * tap_rows * s.kw * V);
  pack_kernel(s, weight, flip, tile.r - 1, V, taps.data());

  const int64_t row_tiles = ceil_div(s.oh, tile.r);
  const int64_t chunks = row_chunks(s.n * blocks, row_tiles);
  const int64_t tiles_per_chunk = ceil_div(row_tiles, chunks);
  lk::parallel_for(s.n * blocks * chunks, 1, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t chunk = task % chunks, cb = (task / chunks) % blocks, n = task / (chunks * blocks);
      const int64_t c0 = cb * V, lanes = imin(V, s.c - c0);
      const int64_t oy_a = chunk * tiles_per_chunk * tile.r;
      const int64_t oy_b = imin(row_tiles, (chunk + 1) * tiles_per_chunk) * tile.r;  // rounded up to R
      if (oy_a >= oy_b) continue;
      const int64_t in_lo = imax(0, oy_a - s.ph), in_hi = imax(in_lo, imin(s.h, oy_b - 1 - s.ph + s.kh));
      const int64_t in_floats = round_up((in_hi - in_lo) * in_pixels * V, 16);
      float* in = thread_workspace(in_floats + (oy_b - oy_a) * ow_up * V);
      float* out = in + in_floats;
      pack_block(x + (n * s.c + c0) * s.h * s.w, lanes, s.h * s.w, in_lo, in_hi, s.w, in, in_pixels, s.pw);
      alignas(64) float bias_lanes[V] = {};
      if (bias)
        for (int64_t l = 0; l < lanes; ++l) bias_lanes[l] = bias[c0 + l];
      const Correlation a{in,   in_lo, in_hi, in_pixels * V, s.pw, s.pw + s.w, taps.data() + cb * tap_rows * s.kw * V,
                          s.kh, s.kw,  s.ph};
      for (int64_t o0 = oy_a; o0 < oy_b; o0 += tile.r)
        for (int64_t q0 = 0; q0 < ow_up; q0 += tile.b)
          tile.blocked(a, o0, q0, bias_lanes, out + ((o0 - oy_a) * ow_up + q0) * V, ow_up * V);
      unpack_block(out, ow_up, lanes, oy_a, imin(oy_b, s.oh), s.ow, y + (n * s.c + c0) * s.oh * s.ow, s.oh * s.ow);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Path 3: streaming (stride 1, small square kernels, NCHW).

// Row-streaming planar kernel for small KH x KW, straight on an NCHW plane: each input row is
// loaded once per column chunk and feeds all KH output rows it touches. The accumulators form a
// ring of KH rows; unrolling by KH makes every slot's role static. Output row o takes input rows
// o - ph .. o - ph + KH - 1, so with v = input row + ph, row o is complete after v = o + KH - 1;
// a slot is reset to the bias when its row completes, which also clears what rows above the top
// edge (o < 0) put in it. Columns of the horizontal padding are masked-out lanes of the loads.
template <int KH, int KW, int B>
static void stream_plane(const float* x, int64_t h, int64_t w, int64_t pw, const float* taps, float bias, float* y,
                         int64_t oh, int64_t ow, int64_t ph) {
  const int64_t v_end = oh + KH - 1;
  for (int64_t q0 = 0; q0 < ow; q0 += B * V) {
    vmask mask[KW][B];  // lanes of input columns q0 + kx - pw + j V .. + V that lie in [0, w)
    for (int kx = 0; kx < KW; ++kx)
      for (int j = 0; j < B; ++j) {
        const int64_t c = q0 + kx - pw + j * V;
        mask[kx][j] = vmask_lanes(int(imin(V, imax(0, -c))), int(imax(0, imin(V, w - c))));
      }
    vf acc[KH][B];
#pragma GCC unroll 16
    for (int i = 0; i < KH; ++i)
#pragma GCC unroll 16
      for (int j = 0; j < B; ++j) acc[i][j] = vset1(bias);
    for (int64_t v0 = 0; v0 < v_end; v0 += KH) {
#pragma GCC unroll 16
      for (int u = 0; u < KH; ++u) {
        const int64_t v = v0 + u;
        if (v >= v_end) break;
        const int64_t r = v - ph;
        if (r >= 0 && r < h) {  // rows of the vertical padding add nothing
          const float* row = x + r * w + q0 - pw;
#pragma GCC unroll 16
          for (int kx = 0; kx < KW; ++kx) {
            vf xin[B];
#pragma GCC unroll 16
            for (int j = 0; j < B; ++j) xin[j] = vload_mask(row + kx + j * V, mask[kx][j]);
#pragma GCC unroll 16
            for (int ky = 0; ky < KH; ++ky) {
              const vf tap = vset1(taps[ky * KW + kx]);
              const int slot = (u - ky + KH) % KH;
#pragma GCC unroll 16
              for (int j = 0; j < B; ++j) acc[slot][j] = vfma(xin[j], tap, acc[slot][j]);
            }
          }
        }
        const int done = (u + 1) % KH;
        const int64_t o = v - (KH - 1);
        if (o >= 0) {
          float* out = y + o * ow + q0;
#pragma GCC unroll 16
          for (int j = 0; j < B; ++j) {
            const int64_t left = ow - q0 - j * V;
            if (left >= V)
              vstore(out + j * V, acc[done][j]);
            else if (left > 0)
              vstore_n(out + j * V, acc[done][j], int(left));
          }
        }
#pragma GCC unroll 16
        for (int j = 0; j < B; ++j) acc[done][j] = vset1(bias);
      }
    }
  }
}

using StreamFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, float, float*, int64_t, int64_t,
                          int64_t);
struct Stream {
  int kh, kw, b;
  StreamFn fn;
};
#define LK_STREAM(K, B) \
  { K, K, B, stream_plane<K, K, B> }
// B: accumulators (KH * B) + inputs (B) fit the register file; taps come as broadcasts. The
// input loads per FMA are 1/KH whatever B is, so narrow chunks cost little and waste fewer lanes
// on narrow maps (28 columns: one 2-vector chunk rather than half of a 4-vector one).
#if defined(LK_ISA_AVX512)
static const Stream kStreams[] = {LK_STREAM(3, 4), LK_STREAM(3, 2), LK_STREAM(5, 4), LK_STREAM(5, 2),
                                  LK_STREAM(7, 2), LK_STREAM(7, 1), LK_STREAM(9, 2), LK_STREAM(9, 1)};
#else
static const Stream kStreams[] = {LK_STREAM(3, 2), LK_STREAM(3, 1), LK_STREAM(5, 2), LK_STREAM(5, 1), LK_STREAM(7, 1)};
#endif
#undef LK_STREAM

// The variant for this kernel size that wastes the fewest vector lanes on a row of ow outputs
// (ties: the wider one, listed first).
static const Stream* find_stream(const DwConvShape& s) {
  const Stream* best = nullptr;
  int64_t best_lanes = 0;
  for (const Stream& st : kStreams) {
    if (st.kh != s.kh || st.kw != s.kw) continue;
    const int64_t lanes = round_up(s.ow, st.b * V);
    if (!best || lanes < best_lanes) best = &st, best_lanes = lanes;
  }
  return best;
}

// Stride-1 forward straight on the NCHW planes with a row-streaming kernel (see stream_plane).
static void forward_stream(const DwConvShape& s, const Stream& stream, const float* x, const float* weight, bool flip,
                           const float* bias, float* y) {
  lk::Scratch taps(s.c * s.kh * s.kw);
  pack_kernel(s, weight, flip, 0, 1, taps.data());
  lk::parallel_for(s.n * s.c, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % s.c;
      stream.fn(x + p * s.h * s.w, s.h, s.w, s.pw, taps.data() + c * s.kh * s.kw, bias ? bias[c] : 0.f,
                y + p * s.oh * s.ow, s.oh, s.ow, s.ph);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Path 4: planar (stride 1, kernels of at most 9 taps, NCHW).

// Stride-1 forward straight on the NCHW planes, vectorised along rows (kVL output columns per
// vector, taps broadcast) with the register tiles: for small kernels without a streaming kernel.
// Each plane is copied once into a zero-padded row buffer.
static void forward_planar(const DwConvShape& s, const float* x, const float* weight, bool flip, const float* bias,
                           float* y) {
  const Tile tile = pick_tile(s.oh, ceil_div(s.ow, V), s.kh);
  const int64_t ow_up = round_up(s.ow, tile.b * V), oh_up = round_up(s.oh, tile.r);
  const int64_t in_pixels = ow_up + s.kw - 1;  // >= W + 2 pw: room for the last tile's reads
  const int64_t tap_rows = s.kh + 2 * (tile.r - 1);
  lk::Scratch taps(s.c * tap_rows * s.kw);
  pack_kernel(s, weight, flip, tile.r - 1, 1, taps.data());
  lk::parallel_for(s.n * s.c, 1, [&](int64_t p0, int64_t p1) {
    const int64_t in_floats = round_up(s.h * in_pixels, 16);
    float* in = thread_workspace(in_floats);
    // The padding columns are the same zeros for every plane: clear once, then copy data only.
    std::memset(in, 0, sizeof(float) * in_floats);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % s.c;
      for (int64_t r = 0; r < s.h; ++r) {
        float* row = in + r * in_pixels + s.pw;
        const float* src = x + (p * s.h + r) * s.w;
        int64_t i = 0;
        for (; i + V <= s.w; i += V) vstore(row + i, vload(src + i));
        if (i < s.w) vstore_n(row + i, vload_n(src + i, int(s.w - i)), int(s.w - i));
      }
      alignas(64) float init[V];
      vstore(init, vset1(bias ? bias[c] : 0.f));
      Correlation a{in, 0, s.h, in_pixels, s.pw, s.pw + s.w, taps.data() + c * tap_rows * s.kw, s.kh, s.kw, s.ph};
      a.out_rows = s.oh;  // write the plane of y directly
      a.out_cols = s.ow;
      float* out = y + p * s.oh * s.ow;
      for (int64_t o0 = 0; o0 < oh_up; o0 += tile.r)
        for (int64_t q0 = 0; q0 < ow_up; q0 += tile.b * V) tile.planar(a, o0, q0, init, out + o0 * s.ow + q0, s.ow);
    }
  });
}

// Where packing would cost more than the convolution, no layout change: the streaming kernels
// for small kernels on rows of more than one vector that fill at least 80% of their lanes (56
// and 28 columns, not 14 or 7); the planar tiles for other kernels of at most 3x3 on rows of at
// least two vectors. Measured with bench/dwconv.js against the blocked layout.
static bool stream_suits(const DwConvShape& s) { return s.ow > V && s.ow * 5 >= round_up(s.ow, V) * 4; }

// ---------------------------------------------------------------------------------------------
// Path 5: streaming weight gradient (stride 1, 3x3, NCHW).

// Weight gradient of one plane, streaming on NCHW: dW[ky][kx] += sum over o, q of
// grad_y[o][q] * x[o - ph + ky][q - pw + kx], one accumulator vector per tap and column vector;
// the horizontal padding is masked-out lanes, the vertical padding skipped rows. No packing,
// which is what dominates the blocked weight gradient at small kernels.
template <int KH, int KW, int B>
static void stream_weight_plane(const float* x, int64_t h, int64_t w, int64_t pw, const float* gy, int64_t oh,
                                int64_t ow, int64_t ph, float* dw) {
  for (int64_t q0 = 0; q0 < ow; q0 += B * V) {
    vmask mask[KW][B], gmask[B];
    for (int j = 0; j < B; ++j) {
      gmask[j] = vmask_lanes(0, int(imax(0, imin(V, ow - q0 - j * V))));
      for (int kx = 0; kx < KW; ++kx) {
        const int64_t c = q0 + kx - pw + j * V;
        mask[kx][j] = vmask_lanes(int(imin(V, imax(0, -c))), int(imax(0, imin(V, w - c))));
      }
    }
    vf acc[KH][KW][B];
#pragma GCC unroll 16
    for (int ky = 0; ky < KH; ++ky)
#pragma GCC unroll 16
      for (int kx = 0; kx < KW; ++kx)
#pragma GCC unroll 16
        for (int j = 0; j < B; ++j) acc[ky][kx][j] = vzero();
    for (int64_t o = 0; o < oh; ++o) {
      vf g[B];
#pragma GCC unroll 16
      for (int j = 0; j < B; ++j) g[j] = vload_mask(gy + o * ow + q0 + j * V, gmask[j]);
#pragma GCC unroll 16
      for (int ky = 0; ky < KH; ++ky) {
        const int64_t r = o - ph + ky;
        if (r < 0 || r >= h) continue;
        const float* row = x + r * w + q0 - pw;
#pragma GCC unroll 16
        for (int kx = 0; kx < KW; ++kx)
#pragma GCC unroll 16
          for (int j = 0; j < B; ++j)
            acc[ky][kx][j] = vfma(vload_mask(row + kx + j * V, mask[kx][j]), g[j], acc[ky][kx][j]);
      }
    }
#pragma GCC unroll 16
    for (int ky = 0; ky < KH; ++ky)
#pragma GCC unroll 16
      for (int kx = 0; kx < KW; ++kx) {
        vf t = acc[ky][kx][0];
#pragma GCC unroll 16
        for (int j = 1; j < B; ++j) t = vadd(t, acc[ky][kx][j]);
        dw[ky * KW + kx] += vsum(t);
      }
  }
}

using StreamWeightFn = void (*)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t,
                                float*);
struct StreamWeight {
  int kh, kw;
  StreamWeightFn fn;
};
// KH * KW * B accumulators must fit the register file with room for the loads. Measured: for
// 3x3 this beats packing for the blocked path (1.4-2x); at 5x5 (one vector per chunk) it loses.
#if defined(LK_ISA_AVX512)
static const StreamWeight kStreamWeights[] = {{3, 3, stream_weight_plane<3, 3, 2>}};
#else
static const StreamWeight kStreamWeights[] = {{3, 3, stream_weight_plane<3, 3, 1>}};
#endif

static const StreamWeight* find_stream_weight(const DwConvShape& s) {
  for (const StreamWeight& st : kStreamWeights)
    if (st.kh == s.kh && st.kw == s.kw) return &st;
  return nullptr;
}

// One task per channel, summing over the batch (no reduction across tasks).
static void backward_weight_stream(const DwConvShape& s, const StreamWeight& st, const float* grad_y, const float* x,
                                   float* grad_weight) {
  lk::parallel_for(s.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* dw = grad_weight + c * s.kh * s.kw;
      for (int64_t k = 0; k < s.kh * s.kw; ++k) dw[k] = 0.f;
      for (int64_t n = 0; n < s.n; ++n)
        st.fn(x + (n * s.c + c) * s.h * s.w, s.h, s.w, s.pw, grad_y + (n * s.c + c) * s.oh * s.ow, s.oh, s.ow, s.ph,
              dw);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Path 2, continued: the blocked weight gradient.

// Weight gradient: dW[ky][kx] = sum over n, oy, ox of grad_y[oy][ox] * x_padded[oy + ky][ox + kx],
// the same correlation with x as input, grad_y as taps and dW (KH x KW) as the output tile grid.
// Tasks: (channel block, row chunk of dW); each loops over n, so no reduction across tasks.
static void backward_weight_blocked(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  const Tile tile = pick_tile(s.kh, s.kw, s.oh);
  const int64_t blocks = ceil_div(s.c, V);
  const int64_t kw_up = round_up(s.kw, tile.b);
  const int64_t in_pixels = s.w + 2 * s.pw + tile.b;  // room for the columns of the last tile
  const int64_t pad_rows = tile.r - 1;
  const int64_t tap_rows = s.oh + 2 * pad_rows;
  const int64_t row_tiles = ceil_div(s.kh, tile.r);
  const int64_t chunks = row_chunks(blocks, row_tiles);
  const int64_t tiles_per_chunk = ceil_div(row_tiles, chunks);
  lk::parallel_for(blocks * chunks, 1, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t chunk = task % chunks, cb = task / chunks;
      const int64_t c0 = cb * V, lanes = imin(V, s.c - c0);
      const int64_t ky_a = chunk * tiles_per_chunk * tile.r;
      const int64_t ky_b = imin(row_tiles, (chunk + 1) * tiles_per_chunk) * tile.r;
      if (ky_a >= ky_b) continue;
      const int64_t in_lo = imax(0, ky_a - s.ph), in_hi = imax(in_lo, imin(s.h, ky_b - 1 - s.ph + s.oh));
      const int64_t in_floats = round_up((in_hi - in_lo) * in_pixels * V, 16);
      const int64_t tap_floats = round_up(tap_rows * s.ow * V, 16);
      float* in = thread_workspace(in_floats + tap_floats + (ky_b - ky_a) * kw_up * V);
      float* taps = in + in_floats;
      float* out = taps + tap_floats;
      // grad_y's zero rows above and below (packing fills the rest), and dW's accumulators.
      std::memset(taps, 0, sizeof(float) * pad_rows * s.ow * V);
      std::memset(taps + (pad_rows + s.oh) * s.ow * V, 0, sizeof(float) * pad_rows * s.ow * V);
      std::memset(out, 0, sizeof(float) * (ky_b - ky_a) * kw_up * V);
      const Correlation a{in, in_lo, in_hi, in_pixels * V, s.pw, s.pw + s.w, taps, s.oh, s.ow, s.ph};
      for (int64_t n = 0; n < s.n; ++n) {
        pack_block(x + (n * s.c + c0) * s.h * s.w, lanes, s.h * s.w, in_lo, in_hi, s.w, in, in_pixels, s.pw);
        pack_block(grad_y + (n * s.c + c0) * s.oh * s.ow, lanes, s.oh * s.ow, 0, s.oh, s.ow, taps + pad_rows * s.ow * V,
                   s.ow, 0);
        for (int64_t o0 = ky_a; o0 < ky_b; o0 += tile.r)
          for (int64_t q0 = 0; q0 < kw_up; q0 += tile.b)
            tile.blocked(a, o0, q0, nullptr, out + ((o0 - ky_a) * kw_up + q0) * V, kw_up * V);
      }
      unpack_block(out, kw_up, lanes, ky_a, imin(ky_b, s.kh), s.kw, grad_weight + c0 * s.kh * s.kw, s.kh * s.kw);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

static bool unit_stride(const DwConvShape& s) { return s.sh == 1 && s.sw == 1; }

// Stride-1 forward (and input gradient, flipped): streaming, planar or blocked.
static void forward_unit_stride(const DwConvShape& s, const float* x, const float* weight, bool flip, const float* bias,
                                float* y) {
  const Stream* stream = find_stream(s);
  if (stream && stream_suits(s))
    forward_stream(s, *stream, x, weight, flip, bias, y);
  else if (s.kh * s.kw <= 9 && s.ow >= 2 * V)
    forward_planar(s, x, weight, flip, bias, y);
  else
    forward_blocked(s, x, weight, flip, bias, y);
}

// Kernel taps that ever meet the input. At stride 1 output row o reads input row o - ph + ky, so
// only ky in [ph - oh + 1, ph + h) touch data. On maps smaller than the kernel (7x7 under 41x41)
// that is a small window, and cutting the kernel to it keeps the work, and the packing of the
// taps, proportional to what is used (1024 channels of 41x41 taps are 6.9 MB; 13x13 of them meet
// a 7x7 map).
struct TapWindow {
  int64_t y0, y1, x0, x1;
};

static TapWindow useful_taps(const DwConvShape& s) {
  return {imax(0, s.ph - s.oh + 1), imin(s.kh, s.ph + s.h), imax(0, s.pw - s.ow + 1), imin(s.kw, s.pw + s.w)};
}

static bool is_whole(const DwConvShape& s, const TapWindow& t) {
  return t.y0 == 0 && t.y1 == s.kh && t.x0 == 0 && t.x1 == s.kw;
}

// The same convolution with the kernel cut to the window: the top and left padding shrink by the
// rows and columns cut away there (the code takes padding as a top/left offset; sizes stay).
static DwConvShape cut_shape(const DwConvShape& s, const TapWindow& t) {
  DwConvShape c = s;
  c.kh = t.y1 - t.y0;
  c.kw = t.x1 - t.x0;
  c.ph = s.ph - t.y0;
  c.pw = s.pw - t.x0;
  return c;
}

// weight [c][kh][kw] <-> the window's taps [c][kh'][kw']; uncut zero-fills the rest.
static void cut_taps(const DwConvShape& s, const TapWindow& t, const float* weight, float* taps) {
  const int64_t kh = t.y1 - t.y0, kw = t.x1 - t.x0;
  lk::parallel_for(s.c, 16, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t ky = 0; ky < kh; ++ky)
        std::memcpy(taps + (c * kh + ky) * kw, weight + (c * s.kh + t.y0 + ky) * s.kw + t.x0, sizeof(float) * kw);
  });
}

static void uncut_taps(const DwConvShape& s, const TapWindow& t, const float* taps, float* weight) {
  const int64_t kh = t.y1 - t.y0, kw = t.x1 - t.x0;
  lk::parallel_for(s.c, 16, [&](int64_t c0, int64_t c1) {
    std::memset(weight + c0 * s.kh * s.kw, 0, sizeof(float) * (c1 - c0) * s.kh * s.kw);
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t ky = 0; ky < kh; ++ky)
        std::memcpy(weight + (c * s.kh + t.y0 + ky) * s.kw + t.x0, taps + (c * kh + ky) * kw, sizeof(float) * kw);
  });
}

// At stride 1 the input gradient is the forward pass over grad_y with the kernel rotated 180
// degrees and padding K-1-p (which must not be negative, hence the padding condition).
static void backward_input_whole(const DwConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  if (s.ph <= s.kh - 1 && s.pw <= s.kw - 1) {
    const DwConvShape t{s.n, s.c, s.oh, s.ow, s.kh, s.kw, 1, 1, s.kh - 1 - s.ph, s.kw - 1 - s.pw, s.h, s.w};
    forward_unit_stride(t, grad_y, weight, true, nullptr, grad_x);
  } else {
    backward_input_reference(s, grad_y, weight, grad_x);
  }
}

static void backward_weight_whole(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  const StreamWeight* st = find_stream_weight(s);
  if (st && stream_suits(s))
    backward_weight_stream(s, *st, grad_y, x, grad_weight);
  else
    backward_weight_blocked(s, grad_y, x, grad_weight);
}

// Calls fn(shape, weight) with the kernel cut to its useful window (as it is when all of it is used).
template <class Fn>
static void with_useful_taps(const DwConvShape& s, const float* weight, const Fn& fn) {
  const TapWindow t = useful_taps(s);
  if (is_whole(s, t)) return fn(s, weight);
  const DwConvShape c = cut_shape(s, t);
  lk::Scratch taps(c.c * c.kh * c.kw);
  cut_taps(s, t, weight, taps.data());
  fn(c, taps.data());
}

void dwconv2d_forward(const DwConvShape& s, const float* x, const float* weight, const float* bias, float* y) {
  if (!unit_stride(s)) return forward_reference(s, x, weight, bias, y);
  with_useful_taps(s, weight,
                   [&](const DwConvShape& c, const float* w) { forward_unit_stride(c, x, w, false, bias, y); });
}

void dwconv2d_backward_input(const DwConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  if (!unit_stride(s)) return backward_input_reference(s, grad_y, weight, grad_x);
  with_useful_taps(s, weight,
                   [&](const DwConvShape& c, const float* w) { backward_input_whole(c, grad_y, w, grad_x); });
}

// Taps outside the useful window never meet the input: their gradient is zero.
void dwconv2d_backward_weight(const DwConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  if (!unit_stride(s)) return backward_weight_reference(s, grad_y, x, grad_weight);
  const TapWindow t = useful_taps(s);
  if (is_whole(s, t)) return backward_weight_whole(s, grad_y, x, grad_weight);
  const DwConvShape c = cut_shape(s, t);
  lk::Scratch taps(c.c * c.kh * c.kw);
  backward_weight_whole(c, grad_y, x, taps.data());
  uncut_taps(s, t, taps.data(), grad_weight);
}

}  // namespace LK_ISA_NS
