// conv2d (dense and grouped) as GEMM, compiled once per ISA (binding.gyp isa_sources).
//
// Per image n and group g, with P = OH*OW output pixels and CKK = Cin/groups * KH * KW:
//   forward          y_g [Cout_g, P] = W_g [Cout_g, CKK] * col [CKK, P]
//   backward-weight  gW_g           += gy_g [Cout_g, P] * col^T [P, CKK]
//   backward-input   stride 1: a forward conv of gy with the flipped, transposed weights;
//                    otherwise dcol = W_g^T * gy_g, then col2im (scatter-add) into gx.
// `col` is never stored for the forward and weight passes: a packer writes im2col (or the patch
// matrix, for K == stride patch embeddings) straight into the GEMM's packed-B panels; 1x1 stride-1
// convs use x itself ([Cin_g, H*W] already is col).
// Threads: one GEMM per (image, group) per thread when there are enough of them (the weights are
// then packed once per call and shared), else the threads share each GEMM (split over its N
// blocks = pixel ranges, or its rows when there is one N block; the GEMM packs its weight panels
// where it uses them).
#include "conv.h"

#include <cstring>

#include "gemm.h"
#include "parallel.h"
#include "simd.h"

namespace LK_ISA_NS {
namespace {

using lk::ConvShape;

constexpr int64_t kUnitColBudget = int64_t(1) << 17;  // floats of col per parallel unit (512 KB, L2)
constexpr int64_t kBigColBudget = int64_t(1) << 22;   // floats of col when the threads share one unit

enum class Kind { pointwise, patch, general };

Kind kind_of(const ConvShape& s) {
  if (s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0) return Kind::pointwise;
  if (s.kh == s.sh && s.kw == s.sw && s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1) return Kind::patch;
  return Kind::general;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Output pixels split into `count` chunks of at most `len`.
struct Chunks {
  int64_t len, count;
};

// Chunks of about `budget / rows` pixels (>= 64); with `units_per_chunk` units per chunk index,
// the chunk count is nudged so the total number of units is a multiple of the thread count.
Chunks pixel_chunks(int64_t pixels, int64_t rows, int64_t budget, int64_t units_per_chunk, int nthreads) {
  int64_t len = imax(64, budget / imax(rows, 1));
  int64_t count = ceil_div(pixels, len);
  while (count < pixels && (count * units_per_chunk) % nthreads != 0 && count * units_per_chunk < 8 * nthreads) ++count;
  len = ceil_div(pixels, count);
  return {len, ceil_div(pixels, len)};
}

// Valid output columns [lo, hi) for kernel column kj: 0 <= ow*sw + kj*dw - pw < W.
void valid_cols(const ConvShape& s, int64_t kj, int64_t* lo, int64_t* hi) {
  const int64_t off = kj * s.dw - s.pw;
  *lo = off >= 0 ? 0 : imin(s.ow, ceil_div(-off, s.sw));
  *hi = (s.w - 1 - off < 0) ? 0 : imin(s.ow, (s.w - 1 - off) / s.sw + 1);
  if (*hi < *lo) *hi = *lo;
}

// col2im: x[c][ih][iw] += col[r - r0][p - p0] for ih = oh*sh - ph + ki*dh, iw = ow*sw - pw + kj*dw
// over col rows [r0, r1) (row r = (c, ki, kj)) and pixels [p0, p0 + pc) (p = (oh, ow)): the
// transpose of im2col, walked in output-row segments.
void col2im(const ConvShape& s, const float* col, int64_t p0, int64_t pc, int64_t r0, int64_t r1, float* xg) {
  const int64_t kk = s.kh * s.kw;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t c = r / kk, ki = (r % kk) / s.kw, kj = r % s.kw;
    int64_t lo, hi;
    valid_cols(s, kj, &lo, &hi);
    const int64_t off = kj * s.dw - s.pw;
    float* xc = xg + c * s.h * s.w;
    const float* d = col + (r - r0) * pc;
    int64_t oh = p0 / s.ow, ow = p0 % s.ow;
    for (int64_t p = p0, end = p0 + pc; p < end;) {
      const int64_t n = imin(end - p, s.ow - ow);
      const int64_t ih = oh * s.sh - s.ph + ki * s.dh;
      if (ih >= 0 && ih < s.h) {
        float* xr = xc + ih * s.w;
        for (int64_t q = imax(0, lo - ow), qe = imin(n, hi - ow); q < qe; ++q) xr[(ow + q) * s.sw + off] += d[q];
      }
      d += n;
      p += n;
      ow = 0;
      ++oh;
    }
  }
}

// Gradient of the patch extraction, rows [p0, p0 + pc) of the patch-matrix gradient gp:
// x[c][oh*KH + ki][ow*KW + kj] = gp[p - p0][(c*KH + ki)*KW + kj]. Patches never overlap: plain writes.
void patches_to_x(const ConvShape& s, const float* gp, int64_t p0, int64_t pc, int64_t cg, float* xg) {
  const int64_t ckk = cg * s.kh * s.kw;
  for (int64_t p = p0; p < p0 + pc; ++p) {
    const int64_t oh = p / s.ow, ow = p % s.ow;
    const float* row = gp + (p - p0) * ckk;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t ki = 0; ki < s.kh; ++ki)
        std::memcpy(xg + c * s.h * s.w + (oh * s.kh + ki) * s.w + ow * s.kw, row + (c * s.kh + ki) * s.kw,
                    sizeof(float) * s.kw);
  }
}

struct Dims {
  int64_t cg, og, pixels, ckk, hw;
  Kind kind;
};

Dims dims_of(const ConvShape& s) {
  Dims d;
  d.cg = s.cin / s.groups;
  d.og = s.cout / s.groups;
  d.pixels = s.oh * s.ow;
  d.ckk = d.cg * s.kh * s.kw;
  d.hw = s.h * s.w;
  d.kind = kind_of(s);
  return d;
}

// ---- Packers: im2col / patch extraction written straight into the GEMM's packed-B layout ----
// (see lk::GemmPackB). Forward packs op(B) = col [CKK, P] (k = col row, j = pixel); the weight
// gradient packs op(B) = col^T [P, CKK] (k = pixel, j = col row). `PixelsAreK` picks which.

struct PackCtx {
  const ConvShape* s;
  const float* xg;  // x[n] at the group's first channel
  int64_t cg;
};

// Columns [nc, round_up(nc, nr)) of the last panel are zero.
void zero_tail(int64_t kc, int64_t nc, int nr, float* dst) {
  const int64_t used = nc % nr;
  if (used == 0) return;
  float* d = dst + (nc / nr) * kc * nr;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t c = used; c < nr; ++c) d[k * nr + c] = 0.f;
}

// d[q * stride] = x row value for output columns ow .. ow + n - 1 (zero where padded).
inline void gather(const float* xr, int64_t ow, int64_t n, int64_t lo, int64_t hi, int64_t sw, int64_t off, float* d,
                   int64_t stride) {
  const int64_t qlo = xr ? imin(n, imax(0, lo - ow)) : n, qhi = xr ? imax(qlo, imin(n, hi - ow)) : n;
  for (int64_t q = 0; q < qlo; ++q) d[q * stride] = 0.f;
  if (qlo == qhi) {
    // Nothing to gather (a padded row has xr = nullptr, and no pointer may be formed from it).
  } else if (stride == 1 && sw == 1) {
    // Segments are short (at most one panel, NR floats): vector moves beat memcpy calls.
    const float* src = xr + ow + off;
    int64_t q = qlo;
    for (; q + kVL <= qhi; q += kVL) vstore(d + q, vload(src + q));
    if (q < qhi) vstore_n(d + q, vload_n(src + q, static_cast<int>(qhi - q)), static_cast<int>(qhi - q));
  } else {
    int64_t q = qlo;
#if defined(LK_ISA_AVX512)
    if (stride == 1 && sw == 2) {
      // Stride 2 (stems, downsampling): pick the even lanes of two loads; the second load stops at
      // the last element needed, so nothing past the valid range is read.
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const float* src = xr + 2 * ow + off;
      for (; q + 16 <= qhi; q += 16) {
        const __m512 a = _mm512_loadu_ps(src + 2 * q);
        const __m512 b = _mm512_maskz_loadu_ps(0x7FFF, src + 2 * q + 16);
        _mm512_storeu_ps(d + q, _mm512_permutex2var_ps(a, even, b));
      }
    }
#endif
    for (; q < qhi; ++q) d[q * stride] = xr[(ow + q) * sw + off];
  }
  for (int64_t q = qhi; q < n; ++q) d[q * stride] = 0.f;
}

template <bool PixelsAreK>
void pack_im2col(const void* vctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
  const PackCtx& ctx = *static_cast<const PackCtx*>(vctx);
  const ConvShape& s = *ctx.s;
  const int64_t r_begin = PixelsAreK ? j0 : p0, r_end = PixelsAreK ? j0 + nc : p0 + kc;
  const int64_t px_begin = PixelsAreK ? p0 : j0, px_end = PixelsAreK ? p0 + kc : j0 + nc;
  const int64_t kk = s.kh * s.kw;
  const int64_t oh_begin = px_begin / s.ow, ow_begin = px_begin % s.ow;
  for (int64_t r = r_begin; r < r_end; ++r) {
    const int64_t c = r / kk, ki = (r % kk) / s.kw, kj = r % s.kw;
    int64_t lo, hi;
    valid_cols(s, kj, &lo, &hi);
    const int64_t off = kj * s.dw - s.pw;
    const float* xc = ctx.xg + c * s.h * s.w;
    // Walk the pixels in segments that end at an output row or (forward) a panel; no divisions here.
    int64_t oh = oh_begin, ow = ow_begin, col = 0;
    float* d = PixelsAreK ? dst + ((r - j0) / nr) * kc * nr + (r - j0) % nr : dst + (r - p0) * nr;
    for (int64_t p = px_begin; p < px_end;) {
      int64_t n = imin(px_end - p, s.ow - ow);
      if (!PixelsAreK) n = imin(n, nr - col);
      const int64_t ih = oh * s.sh - s.ph + ki * s.dh;
      gather((ih >= 0 && ih < s.h) ? xc + ih * s.w : nullptr, ow, n, lo, hi, s.sw, off, d + (PixelsAreK ? 0 : col),
             PixelsAreK ? nr : 1);
      p += n;
      ow += n;
      if (ow == s.ow) {
        ow = 0;
        ++oh;
      }
      if (PixelsAreK) {
        d += n * nr;
      } else if ((col += n) == nr) {
        col = 0;
        d += kc * nr;  // next panel
      }
    }
  }
  zero_tail(kc, nc, nr, dst);
}

// Patch matrix element (pixel p, index k = (c*KH + ki)*KW + kj) = x[c][oh*KH + ki][ow*KW + kj].
template <bool PixelsAreK>
void pack_patches(const void* vctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
  const PackCtx& ctx = *static_cast<const PackCtx*>(vctx);
  const ConvShape& s = *ctx.s;
  const int64_t k_begin = PixelsAreK ? j0 : p0, k_end = PixelsAreK ? j0 + nc : p0 + kc;
  const int64_t px_begin = PixelsAreK ? p0 : j0, px_end = PixelsAreK ? p0 + kc : j0 + nc;
  const int64_t kk = s.kh * s.kw;
  for (int64_t p = px_begin; p < px_end; ++p) {
    const int64_t oh = p / s.ow, ow = p % s.ow;
    for (int64_t k = k_begin; k < k_end;) {
      const int64_t c = k / kk, ki = (k % kk) / s.kw, kj = k % s.kw;
      int64_t n = imin(s.kw - kj, k_end - k);
      const float* src = ctx.xg + c * s.h * s.w + (oh * s.kh + ki) * s.w + ow * s.kw + kj;
      if (PixelsAreK) {
        const int64_t col = (k - j0) % nr;
        n = imin(n, nr - col);
        std::memcpy(dst + ((k - j0) / nr) * kc * nr + (p - p0) * nr + col, src, sizeof(float) * n);
      } else {
        float* d = dst + ((p - j0) / nr) * kc * nr + (k - p0) * nr + (p - j0) % nr;
        for (int64_t q = 0; q < n; ++q) d[q * nr] = src[q];
      }
      k += n;
    }
  }
  zero_tail(kc, nc, nr, dst);
}

// op(B) for image n, group g: x itself (1x1 stride 1), or a packer over x.
lk::GemmB conv_b(const Dims& d, const PackCtx& ctx, bool pixels_are_k) {
  if (d.kind == Kind::pointwise) return lk::GemmB{pixels_are_k, ctx.xg, d.hw, nullptr, nullptr};
  if (d.kind == Kind::patch)
    return lk::GemmB{false, nullptr, 0, pixels_are_k ? pack_patches<true> : pack_patches<false>, &ctx};
  return lk::GemmB{false, nullptr, 0, pixels_are_k ? pack_im2col<true> : pack_im2col<false>, &ctx};
}

// Many small independent GEMMs run one per thread; few large ones share the threads.
bool one_gemm_per_thread(int64_t count, int nthreads) {
  return count >= 4 * nthreads || (count >= nthreads && count % nthreads == 0 && nthreads > 1);
}
// W [groups * rows, cols] (per group: rows x cols, row-major) packed as op(W_g) for each group;
// transposed = true packs W_g^T (cols x rows) straight from W, without a transposed copy.
void pack_weights(const float* w, int64_t groups, int64_t rows, int64_t cols, bool transposed, float* dst,
                  int64_t len) {
  for (int64_t g = 0; g < groups; ++g) {
    const float* wg = w + g * rows * cols;
    if (transposed)
      sgemm_pack_a(true, cols, rows, wg, cols, dst + g * len, true);
    else
      sgemm_pack_a(false, rows, cols, wg, cols, dst + g * len, true);
  }
}

// ---- 1x1 convolutions on small maps, the whole batch as one GEMM ----
// At 7x7 one image is a GEMM with N = 49 columns, padded to the register tile's 32-column panels
// (49 -> 64). The batch's pixels side by side form one GEMM with N = images * H*W, whose packer
// reads op(B) [Cin, n*HW] straight from NCHW x; its result [Cout, n*HW] goes through a scratch
// buffer (small at these sizes) into NCHW y. Batch 8 of RepLKNet-31B's stage 4: 112-121 ->
// 133-139 GFLOP/s; at 14x14 (N = 196, 94% of the panels used) the per-image GEMMs stay faster.
constexpr int64_t kBatchAsOneMaxPixels = 64;

struct BatchCtx {
  const float* x;
  int64_t k, hw;  // rows of op(B) per image (Cin), pixels per image
};

void pack_batch_pixels(const void* vctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, float* dst) {
  const BatchCtx& ctx = *static_cast<const BatchCtx*>(vctx);
  for (int64_t jp = 0; jp < nc; jp += nr) {
    float* d = dst + jp * kc;
    const int64_t cols = imin(nr, nc - jp);
    for (int64_t k = 0; k < kc; ++k) {
      float* dk = d + k * nr;
      // Columns j0 + jp .. + cols, split where one image's pixels end.
      for (int64_t q = 0; q < cols;) {
        const int64_t j = j0 + jp + q, img = j / ctx.hw, px = j % ctx.hw;
        const int64_t n = imin(cols - q, ctx.hw - px);
        const float* src = ctx.x + (img * ctx.k + p0 + k) * ctx.hw + px;
        for (int64_t t = 0; t < n; ++t) dk[q + t] = src[t];
        q += n;
      }
      for (int64_t q = cols; q < nr; ++q) dk[q] = 0.f;
    }
  }
}

// Images in chunks whose result fits kBatchScratchFloats (16 MB), so a large batch does not double
// the output's memory.
constexpr int64_t kBatchScratchFloats = int64_t(1) << 22;

void pointwise_batch_as_one(const ConvShape& s, const lk::GemmA& a, const float* x, const float* bias, float* y) {
  const int64_t hw = s.h * s.w;
  const int64_t chunk = imax(1, imin(s.n, kBatchScratchFloats / (s.cout * hw)));
  lk::Scratch out(s.cout * chunk * hw);
  for (int64_t n0 = 0; n0 < s.n; n0 += chunk) {
    const int64_t images = imin(chunk, s.n - n0), cols = images * hw;
    const BatchCtx ctx{x + n0 * s.cin * hw, s.cin, hw};
    sgemm_ex(s.cout, cols, s.cin, 1.f, a, lk::GemmB{false, nullptr, 0, pack_batch_pixels, &ctx}, 0.f, out.data(), cols,
             true, bias);
    lk::parallel_for(s.cout, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < images; ++n)
          std::memcpy(y + ((n0 + n) * s.cout + c) * hw, out.data() + c * cols + n * hw, sizeof(float) * hw);
    });
  }
}

// y = conv(x, W) + bias (added in the GEMM's epilogue), with op(W_g) = W_g [Cout_g, CKK] or, for
// `w_transposed`, the transpose of W's per-group [CKK, Cout_g] block (the 1x1 input gradient).
// With many (image, group) GEMMs the weights are packed once and shared; with few (batch 1) each
// GEMM packs its A panels itself, where they are used, which saves writing all packed weights to
// memory and reading them back; 1x1 convs of a batch on small maps are one GEMM (above).
void forward_gemms(const ConvShape& s, const float* w, bool w_transposed, const float* x, const float* bias, float* y) {
  const Dims d = dims_of(s);
  if (d.kind == Kind::pointwise && s.groups == 1 && s.n > 1 && d.hw <= kBatchAsOneMaxPixels)
    return pointwise_batch_as_one(s, lk::GemmA{w_transposed, w, w_transposed ? s.cout : s.cin, nullptr}, x, bias, y);
  const int nthreads = lk::num_threads();
  const int64_t images = s.n * s.groups;
  const bool per_thread = one_gemm_per_thread(images, nthreads);
  const int64_t wpack_len = per_thread ? sgemm_packed_a_floats(d.og, d.ckk) : 0;
  lk::Scratch wpack(per_thread ? s.groups * wpack_len : 1);
  if (per_thread)
    pack_weights(w, s.groups, w_transposed ? d.ckk : d.og, w_transposed ? d.og : d.ckk, w_transposed, wpack.data(),
                 wpack_len);
  auto one = [&](int64_t ng, bool threaded) {
    const int64_t g = ng % s.groups, n = ng / s.groups;
    const PackCtx ctx{&s, x + (n * s.cin + g * d.cg) * d.hw, d.cg};
    const lk::GemmA a = per_thread
                            ? lk::GemmA{false, nullptr, 0, wpack.data() + g * wpack_len}
                            : lk::GemmA{w_transposed, w + g * d.og * d.ckk, w_transposed ? d.og : d.ckk, nullptr};
    sgemm_ex(d.og, d.pixels, d.ckk, 1.f, a, conv_b(d, ctx, false), 0.f, y + (n * s.cout + g * d.og) * d.pixels,
             d.pixels, threaded, bias ? bias + g * d.og : nullptr);
  };
  if (per_thread)
    lk::parallel_for(images, 1, [&](int64_t begin, int64_t end) {
      for (int64_t ng = begin; ng < end; ++ng) one(ng, false);
    });
  else
    for (int64_t ng = 0; ng < images; ++ng) one(ng, true);
}

// ---- Input-gradient strategies (conv2d_backward_input picks one) ----

// 1x1 stride 1: gx_g [Cin_g, P] = W_g^T gy_g, the forward path with op(W_g) = W_g^T.
void backward_input_pointwise(const ConvShape& s, const float* gy, const float* w, float* gx) {
  ConvShape t = s;
  t.cin = s.cout;
  t.cout = s.cin;
  forward_gemms(t, w, true, gy, nullptr, gx);
}

// Stride 1: the input gradient is itself a stride-1 convolution of gy with the weights flipped in
// space and transposed per group (W'_g[ci][co] = W_g[co][ci] rotated 180 degrees) and padding
// D*(K-1) - P (negative = cropping), so it takes the forward path.
void backward_input_flipped(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const Dims d = dims_of(s);
  lk::Scratch wt(s.cout * d.ckk);
  float* w2 = wt.data();
  const int64_t kk = s.kh * s.kw;
  lk::parallel_for(s.cin, 8, [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci) {
      const int64_t g = ci / d.cg, cl = ci % d.cg;
      for (int64_t co = 0; co < d.og; ++co) {
        const float* src = w + ((g * d.og + co) * d.cg + cl) * kk;
        float* dst = w2 + (ci * d.og + co) * kk;
        for (int64_t k = 0; k < kk; ++k) dst[k] = src[kk - 1 - k];
      }
    }
  });
  ConvShape t = s;
  t.cin = s.cout;
  t.h = s.oh;
  t.w = s.ow;
  t.cout = s.cin;
  t.ph = s.dh * (s.kh - 1) - s.ph;
  t.pw = s.dw * (s.kw - 1) - s.pw;
  t.oh = s.h;
  t.ow = s.w;
  forward_gemms(t, w2, false, gy, nullptr, gx);
}

// Non-overlapping patches (K == stride, no padding: patch embeddings): gpatches [pc, CKK] =
// gy_g[:, chunk]^T * W_g per pixel chunk, written back into x; chunks never overlap, so they run
// in parallel.
void backward_input_patches(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const Dims d = dims_of(s);
  const Chunks ch = pixel_chunks(d.pixels, d.ckk, kUnitColBudget, s.n * s.groups, lk::num_threads());
  if (s.oh * s.kh != s.h || s.ow * s.kw != s.w)
    std::memset(gx, 0, sizeof(float) * s.n * s.cin * d.hw);  // pixels no patch covers
  lk::parallel_for(s.n * s.groups * ch.count, 1, [&](int64_t begin, int64_t end) {
    lk::Scratch buf(d.ckk * ch.len);
    for (int64_t u = begin; u < end; ++u) {
      const int64_t c = u % ch.count, ng = u / ch.count, g = ng % s.groups, n = ng / s.groups;
      const int64_t p0 = c * ch.len, pc = imin(ch.len, d.pixels - p0);
      const float* gyc = gy + (n * s.cout + g * d.og) * d.pixels + p0;
      sgemm(true, false, pc, d.ckk, d.og, 1.f, gyc, d.pixels, w + g * d.og * d.ckk, d.ckk, 0.f, buf.data(), d.ckk,
            false);
      patches_to_x(s, buf.data(), p0, pc, d.cg, gx + (n * s.cin + g * d.cg) * d.hw);
    }
  });
}

// dcol [CKK, pc] = W_g^T * gy_g[:, p0 : p0 + pc] for image n, group g (threaded or not).
void dcol_chunk(const ConvShape& s, const Dims& d, const float* gy, const float* w, int64_t n, int64_t g, int64_t p0,
                int64_t pc, float* dcol, bool threaded) {
  const float* gyc = gy + (n * s.cout + g * d.og) * d.pixels + p0;
  sgemm(true, false, d.ckk, pc, d.og, 1.f, w + g * d.og * d.ckk, d.ckk, gyc, d.pixels, 0.f, dcol, pc, threaded);
}

// Strided, many (image, group) pairs: each thread owns whole pairs, computes dcol chunk by chunk
// and scatters it with col2im into its own part of gx.
void backward_input_col2im_per_thread(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const Dims d = dims_of(s);
  const Chunks ch = pixel_chunks(d.pixels, d.ckk, kUnitColBudget, 1, 1);
  std::memset(gx, 0, sizeof(float) * s.n * s.cin * d.hw);
  lk::parallel_for(s.n * s.groups, 1, [&](int64_t begin, int64_t end) {
    lk::Scratch buf(d.ckk * ch.len);
    for (int64_t ng = begin; ng < end; ++ng) {
      const int64_t g = ng % s.groups, n = ng / s.groups;
      for (int64_t c = 0; c < ch.count; ++c) {
        const int64_t p0 = c * ch.len, pc = imin(ch.len, d.pixels - p0);
        dcol_chunk(s, d, gy, w, n, g, p0, pc, buf.data(), false);
        col2im(s, buf.data(), p0, pc, 0, d.ckk, gx + (n * s.cin + g * d.cg) * d.hw);
      }
    }
  });
}

// Strided, few pairs: the threads share each GEMM, then scatter channel by channel (disjoint
// parts of gx).
void backward_input_col2im_shared(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const Dims d = dims_of(s);
  const Chunks ch = pixel_chunks(d.pixels, d.ckk, kBigColBudget, 1, 1);
  const int64_t kk = s.kh * s.kw;
  std::memset(gx, 0, sizeof(float) * s.n * s.cin * d.hw);
  lk::Scratch buf(d.ckk * ch.len);
  for (int64_t ng = 0; ng < s.n * s.groups; ++ng) {
    const int64_t g = ng % s.groups, n = ng / s.groups;
    float* gxg = gx + (n * s.cin + g * d.cg) * d.hw;
    for (int64_t c = 0; c < ch.count; ++c) {
      const int64_t p0 = c * ch.len, pc = imin(ch.len, d.pixels - p0);
      dcol_chunk(s, d, gy, w, n, g, p0, pc, buf.data(), true);
      lk::parallel_for(d.cg, 1, [&](int64_t c0, int64_t c1) {
        col2im(s, buf.data() + c0 * kk * pc, p0, pc, c0 * kk, c1 * kk, gxg);
      });
    }
  }
}
}  // namespace

void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  forward_gemms(s, w, false, x, bias, y);
}

void conv2d_backward_input(const ConvShape& s, const float* gy, const float* w, float* gx) {
  const Kind kind = kind_of(s);
  if (kind == Kind::pointwise) return backward_input_pointwise(s, gy, w, gx);
  if (s.sh == 1 && s.sw == 1) return backward_input_flipped(s, gy, w, gx);
  if (kind == Kind::patch) return backward_input_patches(s, gy, w, gx);
  if (one_gemm_per_thread(s.n * s.groups, lk::num_threads())) return backward_input_col2im_per_thread(s, gy, w, gx);
  backward_input_col2im_shared(s, gy, w, gx);
}

void conv2d_backward_weight(const ConvShape& s, const float* gy, const float* x, float* gw) {
  const Dims d = dims_of(s);
  const int nthreads = lk::num_threads();
  // gW_g [Cout_g, CKK] = sum over images of gy_g [Cout_g, P] * col^T [P, CKK]; groups are independent.
  auto group = [&](int64_t g, bool threaded) {
    for (int64_t n = 0; n < s.n; ++n) {
      const PackCtx ctx{&s, x + (n * s.cin + g * d.cg) * d.hw, d.cg};
      sgemm_ex(d.og, d.ckk, d.pixels, 1.f, lk::GemmA{false, gy + (n * s.cout + g * d.og) * d.pixels, d.pixels, nullptr},
               conv_b(d, ctx, true), n == 0 ? 0.f : 1.f, gw + g * d.og * d.ckk, d.ckk, threaded, nullptr);
    }
  };
  if (one_gemm_per_thread(s.groups, nthreads))
    lk::parallel_for(s.groups, 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g) group(g, false);
    });
  else
    for (int64_t g = 0; g < s.groups; ++g) group(g, true);
}

void conv2d_backward_bias(const ConvShape& s, const float* gy, float* gb) {
  const int64_t pixels = s.oh * s.ow;
  lk::parallel_for(s.cout, 16, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      vf acc = vzero();
      float tail = 0.f;
      for (int64_t n = 0; n < s.n; ++n) {
        const float* g = gy + (n * s.cout + o) * pixels;
        int64_t p = 0;
        for (; p + kVL <= pixels; p += kVL) acc = vadd(acc, vload(g + p));
        for (; p < pixels; ++p) tail += g[p];
      }
      // Lane sum by hand: GCC 12 warns (falsely) inside _mm512_reduce_add_ps.
      float lanes[kVL];
      vstore(lanes, acc);
      for (int i = 0; i < kVL; ++i) tail += lanes[i];
      gb[o] = tail;
    }
  });
}

}  // namespace LK_ISA_NS
