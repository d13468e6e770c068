// Fused attention with an online softmax (one pass over the keys, nothing of size tq x tk stored).
// A block takes 32 query rows (forward, grad q) or 32 key rows (grad k, grad v) of one head and
// streams the other side through shared memory 32 rows at a time; each of its 4 warps handles one
// row at a time, lane j scoring key (or query) j of the tile, and the row's max and sum come from
// a fixed xor-shuffle tree, so results do not depend on scheduling.
#include "attention.h"

#include <cmath>
#include <string>

#include "lk_cuda.h"
#include "runtime.h"

namespace lk_cuda {
namespace {

constexpr int kTile = 32;  // rows per block and per streamed tile (= warp size: lane j <-> row j)
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr size_t kMaxSmem = 160 * 1024;  // within sm_80's 163 KiB per block

struct Geo {
  int tq, tk, d, dv;
  float scale;
};

__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float dot(const float* a, const float* b, int n) {
  float s = 0.f;
  for (int c = 0; c < n; ++c) s = fmaf(a[c], b[c], s);
  return s;
}
// rows [first, first + kTile) of a [count, width] matrix into dst, zeros past count.
__device__ __forceinline__ void load_tile(float* dst, const float* src, int first, int count, int width) {
  for (int e = threadIdx.x; e < kTile * width; e += kThreads) {
    const int r = e / width;
    dst[e] = first + r < count ? src[(long long)(first + r) * width + e % width] : 0.f;
  }
}

// acc_row[c] = keep * acc_row[c] + sum_j weights[j] tile[j][c] for this lane's columns c (a warp
// updates one row of its accumulator from 32 weights and a [32, width] tile, j in order).
__device__ __forceinline__ void accumulate_row(float* acc_row, float keep, const float* weights, const float* tile,
                                               int width) {
  for (int c = threadIdx.x % 32; c < width; c += 32) {
    float a = acc_row[c] * keep;
    for (int j = 0; j < kTile; ++j) a = fmaf(weights[j], tile[j * width + c], a);
    acc_row[c] = a;
  }
}

__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k,
                             const float* __restrict__ v, float* __restrict__ out, float* __restrict__ lse) {
  LK_DYNAMIC_SHARED(float, smem);
  const int tiles = (g.tq + kTile - 1) / kTile;
  const long long bh = blockIdx.x / tiles;
  const int q0 = int(blockIdx.x % tiles) * kTile;
  float* qt = smem;                  // [32, d]
  float* kt = qt + kTile * g.d;      // [32, d]
  float* vt = kt + kTile * g.d;      // [32, dv]
  float* acc = vt + kTile * g.dv;    // [32, dv]
  float* pbuf = acc + kTile * g.dv;  // [warps, 32]
  float* m = pbuf + kWarps * 32;     // [32]
  float* l = m + kTile;              // [32]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  load_tile(qt, q + bh * g.tq * g.d, q0, g.tq, g.d);
  for (int e = threadIdx.x; e < kTile * g.dv; e += kThreads) acc[e] = 0.f;
  if (threadIdx.x < kTile) m[threadIdx.x] = -INFINITY, l[threadIdx.x] = 0.f;
  for (int k0 = 0; k0 < g.tk; k0 += kTile) {
    __syncthreads();  // the previous tile is consumed (and, the first time, qt/acc/m/l are set)
    load_tile(kt, k + bh * g.tk * g.d, k0, g.tk, g.d);
    load_tile(vt, v + bh * g.tk * g.dv, k0, g.tk, g.dv);
    __syncthreads();
    for (int r = warp; r < kTile; r += kWarps) {
      if (q0 + r >= g.tq) continue;  // uniform across the warp
      const bool valid = k0 + lane < g.tk;
      const float s = valid ? dot(qt + r * g.d, kt + lane * g.d, g.d) * g.scale : -INFINITY;
      const float m_old = m[r];
      const float m_new = fmaxf(m_old, warp_max(s));
      const float p = valid ? expf(s - m_new) : 0.f;
      const float tile_sum = warp_sum(p);
      const float alpha = expf(m_old - m_new);  // 0 on the first tile (m_old = -inf)
      pbuf[warp * 32 + lane] = p;
      __syncwarp();
      accumulate_row(acc + r * g.dv, alpha, pbuf + warp * 32, vt, g.dv);
      __syncwarp();
      if (lane == 0) m[r] = m_new, l[r] = l[r] * alpha + tile_sum;
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * g.dv; e += kThreads) {
    const int r = e / g.dv;
    if (q0 + r < g.tq) out[(bh * g.tq + q0 + r) * g.dv + e % g.dv] = acc[e] / l[r];
  }
  if (threadIdx.x < kTile && q0 + int(threadIdx.x) < g.tq)
    lse[bh * g.tq + q0 + threadIdx.x] = m[threadIdx.x] + logf(l[threadIdx.x]);
}

// probs[i][j] = exp(scale q_i . k_j - lse_i), one thread per entry.
__global__ void attention_probs_kernel(Geo g, long long total, const float* __restrict__ q, const float* __restrict__ k,
                                       const float* __restrict__ lse, float* __restrict__ probs) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= total) return;
  const long long row = e / g.tk, bh = row / g.tq;
  const int j = int(e % g.tk);
  probs[e] = expf(dot(q + row * g.d, k + (bh * g.tk + j) * g.d, g.d) * g.scale - lse[row]);
}

// delta_i = sum_c grad_out_ic out_ic (the softmax backward's row term), one thread per row.
__global__ void attention_delta_kernel(long long rows, int dv, const float* __restrict__ out,
                                       const float* __restrict__ grad_out, float* __restrict__ delta) {
  const long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r < rows) delta[r] = dot(out + r * dv, grad_out + r * dv, dv);
}

// grad_q for 32 query rows: ds_ij = p_ij (g_i . v_j - delta_i), grad_q_i = scale sum_j ds_ij k_j.
__global__ void __launch_bounds__(kThreads)
    attention_grad_q_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k,
                            const float* __restrict__ v, const float* __restrict__ lse,
                            const float* __restrict__ grad_out, const float* __restrict__ delta,
                            float* __restrict__ grad_q) {
  LK_DYNAMIC_SHARED(float, smem);
  const int tiles = (g.tq + kTile - 1) / kTile;
  const long long bh = blockIdx.x / tiles;
  const int q0 = int(blockIdx.x % tiles) * kTile;
  float* qt = smem;                  // [32, d]
  float* gt = qt + kTile * g.d;      // [32, dv]
  float* kt = gt + kTile * g.dv;     // [32, d]
  float* vt = kt + kTile * g.d;      // [32, dv]
  float* acc = vt + kTile * g.dv;    // [32, d]
  float* dsbuf = acc + kTile * g.d;  // [warps, 32]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  load_tile(qt, q + bh * g.tq * g.d, q0, g.tq, g.d);
  load_tile(gt, grad_out + bh * g.tq * g.dv, q0, g.tq, g.dv);
  for (int e = threadIdx.x; e < kTile * g.d; e += kThreads) acc[e] = 0.f;
  for (int k0 = 0; k0 < g.tk; k0 += kTile) {
    __syncthreads();
    load_tile(kt, k + bh * g.tk * g.d, k0, g.tk, g.d);
    load_tile(vt, v + bh * g.tk * g.dv, k0, g.tk, g.dv);
    __syncthreads();
    for (int r = warp; r < kTile; r += kWarps) {
      if (q0 + r >= g.tq) continue;
      const long long row = bh * g.tq + q0 + r;
      const bool valid = k0 + lane < g.tk;
      float ds = 0.f;
      if (valid) {
        const float p = expf(dot(qt + r * g.d, kt + lane * g.d, g.d) * g.scale - lse[row]);
        ds = p * (dot(gt + r * g.dv, vt + lane * g.dv, g.dv) - delta[row]);
      }
      dsbuf[warp * 32 + lane] = ds;
      __syncwarp();
      accumulate_row(acc + r * g.d, 1.f, dsbuf + warp * 32, kt, g.d);
      __syncwarp();
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * g.d; e += kThreads) {
    const int r = e / g.d;
    if (q0 + r < g.tq) grad_q[(bh * g.tq + q0 + r) * g.d + e % g.d] = acc[e] * g.scale;
  }
}

// grad_k and grad_v for 32 key rows: grad_v_j = sum_i p_ij g_i, grad_k_j = scale sum_i ds_ij q_i.
__global__ void __launch_bounds__(kThreads)
    attention_grad_kv_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k,
                             const float* __restrict__ v, const float* __restrict__ lse,
                             const float* __restrict__ grad_out, const float* __restrict__ delta,
                             float* __restrict__ grad_k, float* __restrict__ grad_v) {
  LK_DYNAMIC_SHARED(float, smem);
  const int tiles = (g.tk + kTile - 1) / kTile;
  const long long bh = blockIdx.x / tiles;
  const int k0 = int(blockIdx.x % tiles) * kTile;
  float* kt = smem;                    // [32, d]
  float* vt = kt + kTile * g.d;        // [32, dv]
  float* qt = vt + kTile * g.dv;       // [32, d]
  float* gt = qt + kTile * g.d;        // [32, dv]
  float* acck = gt + kTile * g.dv;     // [32, d]
  float* accv = acck + kTile * g.d;    // [32, dv]
  float* pbuf = accv + kTile * g.dv;   // [warps, 32]
  float* dsbuf = pbuf + kWarps * 32;   // [warps, 32]
  float* lse_t = dsbuf + kWarps * 32;  // [32]
  float* delta_t = lse_t + kTile;      // [32]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  load_tile(kt, k + bh * g.tk * g.d, k0, g.tk, g.d);
  load_tile(vt, v + bh * g.tk * g.dv, k0, g.tk, g.dv);
  for (int e = threadIdx.x; e < kTile * g.d; e += kThreads) acck[e] = 0.f;
  for (int e = threadIdx.x; e < kTile * g.dv; e += kThreads) accv[e] = 0.f;
  for (int q0 = 0; q0 < g.tq; q0 += kTile) {
    __syncthreads();
    load_tile(qt, q + bh * g.tq * g.d, q0, g.tq, g.d);
    load_tile(gt, grad_out + bh * g.tq * g.dv, q0, g.tq, g.dv);
    load_tile(lse_t, lse + bh * g.tq, q0, g.tq, 1);
    load_tile(delta_t, delta + bh * g.tq, q0, g.tq, 1);
    __syncthreads();
    for (int r = warp; r < kTile; r += kWarps) {
      if (k0 + r >= g.tk) continue;
      float p = 0.f, ds = 0.f;
      if (q0 + lane < g.tq) {
        p = expf(dot(qt + lane * g.d, kt + r * g.d, g.d) * g.scale - lse_t[lane]);
        ds = p * (dot(gt + lane * g.dv, vt + r * g.dv, g.dv) - delta_t[lane]);
      }
      pbuf[warp * 32 + lane] = p;
      dsbuf[warp * 32 + lane] = ds;
      __syncwarp();
      accumulate_row(accv + r * g.dv, 1.f, pbuf + warp * 32, gt, g.dv);
      accumulate_row(acck + r * g.d, 1.f, dsbuf + warp * 32, qt, g.d);
      __syncwarp();
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < kTile * g.d; e += kThreads) {
    const int r = e / g.d;
    if (k0 + r < g.tk && grad_k) grad_k[(bh * g.tk + k0 + r) * g.d + e % g.d] = acck[e] * g.scale;
  }
  for (int e = threadIdx.x; e < kTile * g.dv; e += kThreads) {
    const int r = e / g.dv;
    if (k0 + r < g.tk && grad_v) grad_v[(bh * g.tk + k0 + r) * g.dv + e % g.dv] = accv[e];
  }
}

Geo make_geo(const AttentionShape& s) { return Geo{int(s.tq), int(s.tk), int(s.d), int(s.dv), s.scale}; }

// Shared memory of a kernel from its float count; above 48 KiB it needs the opt-in attribute.
template <typename Kernel>
size_t smem_for(Kernel kernel, const char* name, size_t floats) {
  const size_t bytes = floats * sizeof(float);
  if (bytes > kMaxSmem)
    throw Error(std::string(name) + ": d and dv too large for the shared-memory tiles (" + std::to_string(bytes) +
                " bytes, at most " + std::to_string(kMaxSmem) + ")");
  if (bytes > 48 * 1024) allow_dynamic_smem(kernel, bytes);
  return bytes;
}

}  // namespace

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out, float* lse,
                       float* probs) {
  if (s.bh == 0 || s.tq == 0) return;
  const Geo g = make_geo(s);
  const long long blocks = s.bh * ((s.tq + kTile - 1) / kTile);
  const size_t smem = smem_for(attention_forward_kernel, "attention_forward",
                               size_t(kTile) * (2 * s.d + 2 * s.dv) + kWarps * 32 + 2 * kTile);
  launch("attention_forward_kernel", attention_forward_kernel, grid_1d(blocks), dim3(kThreads), smem, g, q, k, v, out,
         lse);
  if (probs) {
    const long long total = s.bh * s.tq * s.tk;
    launch("attention_probs_kernel", attention_probs_kernel, blocks_for(total, 256), dim3(256), 0, g, total, q, k,
           static_cast<const float*>(lse), probs);
  }
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* grad_out, float* grad_q, float* grad_k, float* grad_v) {
  if (s.bh == 0 || s.tq == 0 || (!grad_q && !grad_k && !grad_v)) return;
  const Geo g = make_geo(s);
  const long long rows = s.bh * s.tq;
  DeviceBuffer delta{size_t(rows)};
  launch("attention_delta_kernel", attention_delta_kernel, blocks_for(rows, 256), dim3(256), 0, rows, int(s.dv), out,
         grad_out, delta.get());
  const float* d = delta.get();
  if (grad_q) {
    const size_t smem = smem_for(attention_grad_q_kernel, "attention_backward (grad q)",
                                 size_t(kTile) * (3 * s.d + 2 * s.dv) + kWarps * 32);
    launch("attention_grad_q_kernel", attention_grad_q_kernel, grid_1d(s.bh * ((s.tq + kTile - 1) / kTile)),
           dim3(kThreads), smem, g, q, k, v, lse, grad_out, d, grad_q);
  }
  if (grad_k || grad_v) {
    const size_t smem = smem_for(attention_grad_kv_kernel, "attention_backward (grad k, v)",
                                 size_t(kTile) * (3 * s.d + 3 * s.dv) + 2 * kWarps * 32 + 2 * kTile);
    launch("attention_grad_kv_kernel", attention_grad_kv_kernel, grid_1d(s.bh * ((s.tk + kTile - 1) / kTile)),
           dim3(kThreads), smem, g, q, k, v, lse, grad_out, d, grad_k, grad_v);
  }
  synchronize("attention_backward");  // delta is freed on return
}

}  // namespace lk_cuda
