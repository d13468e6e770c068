// A minimal float-vector abstraction for the ISA-specific kernel files. Everything here lives
// in the ISA's own namespace (LK_ISA_NS, set by binding.gyp per static library), so each copy
// is a distinct symbol. Include it only from files compiled in the three ISA libraries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <immintrin.h>

// GCC 12 reports (maybe-)uninitialized values inside its own AVX-512 intrinsics (the deliberately
// undefined pass-through operand of _mm512_reduce_add_ps and the shuffles), a known false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#ifndef LK_ISA_NS
#error "simd.h is for files compiled in the ISA libraries (binding.gyp defines LK_ISA_NS)"
#endif

namespace LK_ISA_NS {

#if defined(LK_ISA_AVX512)
constexpr int kVL = 16;  // floats per vector
using vf = __m512;
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vset1(float a) { return _mm512_set1_ps(a); }
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  // a*b + c
inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
inline float vsum(vf a) { return _mm512_reduce_add_ps(a); }
inline float vhmax(vf a) { return _mm512_reduce_max_ps(a); }
// First n (0..kVL) lanes; the rest read as zero / are not written.
inline vf vload_n(const float* p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
inline void vstore_n(float* p, vf v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }
// A lane mask: lanes [lo, hi) (0 <= lo <= hi <= kVL). vload_mask reads only those lanes (zero
// elsewhere; masked-out lanes are never touched, so p may point before or past the array as long
// as the selected lanes are inside it).
using vmask = __mmask16;
inline vmask vmask_lanes(int lo, int hi) { return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)); }
inline vf vload_mask(const float* p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
#elif defined(LK_ISA_AVX2)
constexpr int kVL = 8;
using vf = __m256;
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vset1(float a) { return _mm256_set1_ps(a); }
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
inline float vsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
inline float vhmax(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline vf vload_n(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
inline void vstore_n(float* p, vf v, int n) { _mm256_maskstore_ps(p, lane_mask(n), v); }
using vmask = __m256i;
inline vmask vmask_lanes(int lo, int hi) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), idx),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}
inline vf vload_mask(const float* p, vmask m) { return _mm256_maskload_ps(p, m); }
#else
// Portable fallback: plain loops the compiler may vectorise for the baseline ISA.
constexpr int kVL = 8;
struct vf {
  float v[kVL];
};
inline vf vzero() {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = 0.f;
  return r;
}
inline vf vset1(float a) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a;
  return r;
}
inline vf vload(const float* p) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = p[i];
  return r;
}
inline void vstore(float* p, vf v) {
  for (int i = 0; i < kVL; ++i) p[i] = v.v[i];
}
inline vf vfma(vf a, vf b, vf c) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
  return r;
}
inline vf vadd(vf a, vf b) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}
inline vf vsub(vf a, vf b) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] - b.v[i];
  return r;
}
inline vf vmul(vf a, vf b) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] * b.v[i];
  return r;
}
inline vf vmax(vf a, vf b) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
  return r;
}
inline vf vmin(vf a, vf b) {
  vf r;
  for (int i = 0; i < kVL; ++i) r.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i];
  return r;
}
inline float vsum(vf a) {
  float s = 0.f;
  for (int i = 0; i < kVL; ++i) s += a.v[i];
  return s;
}
inline float vhmax(vf a) {
  float s = a.v[0];
  for (int i = 1; i < kVL; ++i) s = a.v[i] > s ? a.v[i] : s;
  return s;
}
inline vf vload_n(const float* p, int n) {
  vf r = vzero();
  for (int i = 0; i < n; ++i) r.v[i] = p[i];
  return r;
}
inline void vstore_n(float* p, vf v, int n) {
  for (int i = 0; i < n; ++i) p[i] = v.v[i];
}
struct vmask {
  int lo, hi;
};
inline vmask vmask_lanes(int lo, int hi) { return vmask{lo, hi}; }
inline vf vload_mask(const float* p, vmask m) {
  vf r = vzero();
  for (int i = m.lo; i < m.hi; ++i) r.v[i] = p[i];
  return r;
}
#endif

// In-register transpose of a kVL x kVL tile: r[i] lane j <-> r[j] lane i (unpacks, then
// shuffles of 64-bit pairs and of 128-bit lanes), e.g. kVL channel rows of kVL pixels into kVL
// pixel vectors of kVL channels.
inline void vtranspose(vf r[kVL]) {
#if defined(LK_ISA_AVX512)
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // 2x2 blocks of floats
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // 4x4 blocks within each 128-bit lane
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 4; ++i) {  // then the 128-bit lanes themselves, in two steps
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
  }
#elif defined(LK_ISA_AVX2)
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
#else
  for (int i = 0; i < kVL; ++i)
    for (int j = i + 1; j < kVL; ++j) {
      const float v = r[i].v[j];
      r[i].v[j] = r[j].v[i];
      r[j].v[i] = v;
    }
#endif
}

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

}  // namespace LK_ISA_NS
