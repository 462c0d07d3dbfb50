// Fused residual add + RMSNorm. One block per row: the row is read once (x and residual), the
// sum of squares is reduced in registers and shared memory, and the second pass re-reads only
// what the same thread just wrote (an L1/L2 hit), so HBM traffic is the minimum: read x,
// residual, weight; write residual, y. Rows whose length is a multiple of 8 with 16-byte aligned
// pointers move 8 bf16 per thread per access (one 16-byte load); the block is sized so that a
// 7168-wide row is one vector per thread (896 threads) and a small row gets one warp. A second
// form writes the normalised row as fp8 blocks for the fp8 GEMMs instead of bf16.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/fp8_block.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"
#include "common/error.h"

namespace tide::cuda {
namespace {

template <int kVec>
struct Pack;
template <>
struct Pack<8> {
  using type = uint4;
};
template <>
struct Pack<1> {
  using type = bf16;
};

template <int kVec>
__device__ __forceinline__ void unpack(const typename Pack<kVec>::type& p, float* f) {
  const bf16* h = reinterpret_cast<const bf16*>(&p);
#pragma unroll
  for (int i = 0; i < kVec; ++i) f[i] = __bfloat162float(h[i]);
}

template <int kVec>
__device__ __forceinline__ typename Pack<kVec>::type pack(const float* f) {
  typename Pack<kVec>::type p;
  bf16* h = reinterpret_cast<bf16*>(&p);
#pragma unroll
  for (int i = 0; i < kVec; ++i) h[i] = __float2bfloat16(f[i]);
  return p;
}

// Pass 1 of both kernels: residual += x when there is one (stored rounded to bf16), and the
// inverse RMS of the row that results. Each thread handles vectors c = threadIdx.x,
// +blockDim.x, ... of its row, in this pass and in pass 2, so pass 2 reads back exactly the
// elements this thread wrote here (no cross-thread hazard, and y may alias x).
template <int kVec>
__device__ __forceinline__ float residual_and_inverse_rms(const typename Pack<kVec>::type* xr,
                                                          typename Pack<kVec>::type* rr, int64_t vecs, int64_t dim,
                                                          float eps) {
  using P = typename Pack<kVec>::type;
  float sum = 0.f;
  for (int64_t c = threadIdx.x; c < vecs; c += blockDim.x) {
    float v[kVec];
    unpack<kVec>(xr[c], v);
    if (rr) {
      float r[kVec];
      unpack<kVec>(rr[c], r);
#pragma unroll
      for (int i = 0; i < kVec; ++i) r[i] += v[i];
      const P stored = pack<kVec>(r);
      rr[c] = stored;
      unpack<kVec>(stored, v);  // normalise what the residual now holds (bf16-rounded)
    }
#pragma unroll
    for (int i = 0; i < kVec; ++i) sum += v[i] * v[i];
  }
  sum = block_sum(sum);
  return 1.f / sqrtf(sum / static_cast<float>(dim) + eps);
}

template <int kVec>
__global__ void rms_norm_kernel(const bf16* x, int64_t x_stride, bf16* residual, int64_t dim, const bf16* weight,
                                float eps, bf16* y, int64_t y_stride) {
  begin_dependent_kernel();
  using P = typename Pack<kVec>::type;
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / kVec;
  const P* xr = reinterpret_cast<const P*>(x + row * x_stride);
  P* rr = residual ? reinterpret_cast<P*>(residual + row * dim) : nullptr;
  const float inv = residual_and_inverse_rms<kVec>(xr, rr, vecs, dim, eps);
  const P* src = rr ? rr : xr;
  const P* wr = reinterpret_cast<const P*>(weight);
  P* yr = reinterpret_cast<P*>(y + row * y_stride);
  for (int64_t c = threadIdx.x; c < vecs; c += blockDim.x) {
    float v[kVec], w[kVec];
    unpack<kVec>(src[c], v);
    unpack<kVec>(wr[c], w);
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] = v[i] * inv * w[i];
    yr[c] = pack<kVec>(v);
  }
}

// RMSNorm whose output goes straight to fp8 e4m3 in 1×128 blocks, for the fp8 GEMMs that read
// it (V3's MoE gate/up input): the bf16 output is never written. 16 consecutive threads hold one
// block's 128 values (8 each), so the block's amax is a shuffle reduction within a half-warp.
// Each value is rounded to bf16 first, so the result is bit for bit rms_norm followed by
// quantize_fp8_blocks.
__global__ void rms_norm_quantize_fp8_kernel(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight,
                                             float eps, uint8_t* q, float* scales) {
  begin_dependent_kernel();
  using P = Pack<8>::type;
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / 8;
  const P* xr = reinterpret_cast<const P*>(x + row * dim);
  P* rr = residual ? reinterpret_cast<P*>(residual + row * dim) : nullptr;
  const float inv = residual_and_inverse_rms<8>(xr, rr, vecs, dim, eps);
  const P* src = rr ? rr : xr;
  const P* wr = reinterpret_cast<const P*>(weight);
  // The loop's trip count is the same across a warp (blockDim is a multiple of 32); half-warps
  // past the row's end sit a round out together, since dim is a multiple of 128.
  for (int64_t base = threadIdx.x - threadIdx.x % 32; base < vecs; base += blockDim.x) {
    const int64_t c = base + threadIdx.x % 32;
    const unsigned active = __ballot_sync(0xffffffffu, c < vecs);
    if (c >= vecs) continue;
    float v[8], w[8];
    unpack<8>(src[c], v);
    unpack<8>(wr[c], w);
    float amax = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      v[i] = __bfloat162float(__float2bfloat16(v[i] * inv * w[i]));
      amax = fmaxf(amax, fabsf(v[i]));
    }
#pragma unroll
    for (int offset = 8; offset > 0; offset >>= 1) amax = fmaxf(amax, __shfl_xor_sync(active, amax, offset));
    const float scale = fp8_block_scale(amax);
    const float inverse = 1.f / scale;
    *reinterpret_cast<uint2*>(q + row * dim + c * 8) = make_uint2(pack_e4m3x4(v, inverse), pack_e4m3x4(v + 4, inverse));
    if (c % 16 == 0) scales[(c / 16) * n + row] = scale;  // block-major: [dim / 128][n]
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }


void launch_rms_norm(const bf16* x, int64_t x_stride, bf16* residual, int64_t n, int64_t dim, const bf16* weight,
                     float eps, bf16* y, int64_t y_stride, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const bool vec = dim % 8 == 0 && x_stride % 8 == 0 && y_stride % 8 == 0 && aligned16(x) && aligned16(weight) &&
                   aligned16(y) && (residual == nullptr || aligned16(residual));
  const int64_t vecs = vec ? dim / 8 : dim;
  const int threads = static_cast<int>(std::clamp<int64_t>((vecs + 31) / 32 * 32, 32, 1024));
  if (vec)
    launch_dependent(rms_norm_kernel<8>, static_cast<unsigned>(n), threads, 0, stream, x, x_stride, residual, dim,
                     weight, eps, y, y_stride);
  else
    launch_dependent(rms_norm_kernel<1>, static_cast<unsigned>(n), threads, 0, stream, x, x_stride, residual, dim,
                     weight, eps, y, y_stride);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void rms_norm(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight, float eps, bf16* y,
              cudaStream_t stream) {
  launch_rms_norm(x, dim, residual, n, dim, weight, eps, y, dim, stream);
}

void rms_norm_strided(const bf16* x, int64_t x_stride, int64_t n, int64_t dim, const bf16* weight, float eps, bf16* y,
                      int64_t y_stride, cudaStream_t stream) {
  launch_rms_norm(x, x_stride, nullptr, n, dim, weight, eps, y, y_stride, stream);
}

void rms_norm_quantize_fp8_blocks(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight, float eps,
                                  uint8_t* q, float* scales, cudaStream_t stream) {
  if (n <= 0) return;
  if (dim <= 0 || dim % 128 != 0)
    throw Error("rms_norm_quantize_fp8_blocks: the row length must be a positive multiple of 128 (got " +
                std::to_string(dim) + ")");
  if (!aligned16(x) || !aligned16(weight) || (residual && !aligned16(residual)) ||
      reinterpret_cast<uintptr_t>(q) % 8 != 0)
    throw Error("rms_norm_quantize_fp8_blocks: x, residual and weight must be 16-byte and q 8-byte aligned");
  const int threads = static_cast<int>(std::clamp<int64_t>((dim / 8 + 31) / 32 * 32, 32, 1024));
  launch_dependent(rms_norm_quantize_fp8_kernel, static_cast<unsigned>(n), threads, 0, stream, x, residual, n, dim,
                   weight, eps, q, scales);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
