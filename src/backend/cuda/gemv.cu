// Decode-sized dense GEMMs (at most kGemvMaxRows rows): y[n, out] = x[n, in] · Wᵀ, W [out, in]
// row-major, fp32 accumulation. Such a product only streams W once, and cuBLASLt's small-n tiles
// reach about a third of HBM bandwidth on the projections of one decode token; here one warp owns
// one output feature, streams its weight row with 16-byte loads that bypass L1 (each is read once)
// and takes the n input rows from L1/L2 (every warp of the grid reads them), so every SM keeps
// many independent loads in flight.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kWarps = 8;

// Not volatile: the compiler may hoist a warp's several loads ahead of the arithmetic that waits on them.
__device__ __forceinline__ uint4 load_streaming(const bf16* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ void store(bf16* y, float v) { *y = __float2bfloat16(v); }
__device__ __forceinline__ void store(float* y, float v) { *y = v; }

// kRows: n rounded up to 1, 2, 4 or 8; rows past n are not read.
template <int kRows, typename Out>
__global__ void __launch_bounds__(kWarps * 32) gemv_nt_kernel(const bf16* x, int n, const bf16* w, int64_t out,
                                                               int64_t in, Out* y) {
  const int64_t feature = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (feature >= out) return;
  const int lane = threadIdx.x % 32;
  const bf16* row = w + feature * in;
  float acc[kRows] = {};
  // kUnroll 16-byte chunks of the weight row in flight per lane before any is used.
  constexpr int kUnroll = 4;
  constexpr int64_t kStride = 32 * 8;
  for (int64_t c0 = lane * 8; c0 < in; c0 += kStride * kUnroll) {
    uint4 packed[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      packed[u] = c0 + u * kStride < in ? load_streaming(row + c0 + u * kStride) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + u * kStride;
      if (c >= in) break;
      const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&packed[u]);
      float2 wf[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) wf[i] = __bfloat1622float2(w2[i]);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < n) {
          const uint4 xp = __ldg(reinterpret_cast<const uint4*>(x + r * in + c));
          const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xp);
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            const float2 xf = __bfloat1622float2(x2[i]);
            acc[r] += wf[i].x * xf.x + wf[i].y * xf.y;
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= n) break;
    const float sum = warp_sum(acc[r]);
    if (lane == 0) store(y + r * out + feature, sum);
  }
}

template <typename Out>
void launch(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, Out* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (n > kGemvMaxRows || in <= 0 || in % 8 != 0)
    throw Error("gemv_nt: needs 1.." + std::to_string(kGemvMaxRows) + " rows and in a positive multiple of 8 (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ")");
  const dim3 grid(static_cast<unsigned>((out + kWarps - 1) / kWarps));
  const int rows = static_cast<int>(n);
  if (n == 1) gemv_nt_kernel<1><<<grid, kWarps * 32, 0, stream>>>(x, rows, w, out, in, y);
  else if (n == 2) gemv_nt_kernel<2><<<grid, kWarps * 32, 0, stream>>>(x, rows, w, out, in, y);
  else if (n <= 4) gemv_nt_kernel<4><<<grid, kWarps * 32, 0, stream>>>(x, rows, w, out, in, y);
  else gemv_nt_kernel<8><<<grid, kWarps * 32, 0, stream>>>(x, rows, w, out, in, y);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  launch(x, n, w, out, in, y, stream);
}

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y, cudaStream_t stream) {
  launch(x, n, w, out, in, y, stream);
}

}  // namespace tide::cuda
