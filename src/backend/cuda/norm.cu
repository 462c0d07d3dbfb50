// Fused residual add + RMSNorm. One block per row: the row is read once (x and residual), the
// sum of squares is reduced in registers and shared memory, and the second pass re-reads only
// what the same thread just wrote (an L1/L2 hit), so HBM traffic is the minimum: read x,
// residual, weight; write residual, y. Rows whose length is a multiple of 8 with 16-byte aligned
// pointers move 8 bf16 per thread per access (one 16-byte load); the block is sized so that a
// 7168-wide row is one vector per thread (896 threads) and a small row gets one warp.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

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

// Each thread handles vectors c = threadIdx.x, +blockDim.x, ... of its row in both passes, so
// pass 2 reads back exactly the elements this thread wrote in pass 1 (no cross-thread hazard,
// and y may alias x).
template <int kVec>
__global__ void rms_norm_kernel(const bf16* x, bf16* residual, int64_t dim, const bf16* weight, float eps, bf16* y) {
  using P = typename Pack<kVec>::type;
  const int64_t row = blockIdx.x;
  const int64_t vecs = dim / kVec;
  const P* xr = reinterpret_cast<const P*>(x + row * dim);
  P* rr = residual ? reinterpret_cast<P*>(residual + row * dim) : nullptr;
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
  const float inv = 1.f / sqrtf(sum / static_cast<float>(dim) + eps);
  const P* src = rr ? rr : xr;
  const P* wr = reinterpret_cast<const P*>(weight);
  P* yr = reinterpret_cast<P*>(y + row * dim);
  for (int64_t c = threadIdx.x; c < vecs; c += blockDim.x) {
    float v[kVec], w[kVec];
    unpack<kVec>(src[c], v);
    unpack<kVec>(wr[c], w);
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] = v[i] * inv * w[i];
    yr[c] = pack<kVec>(v);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void rms_norm(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight, float eps, bf16* y,
              cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const bool vec = dim % 8 == 0 && aligned16(x) && aligned16(weight) && aligned16(y) &&
                   (residual == nullptr || aligned16(residual));
  const int64_t vecs = vec ? dim / 8 : dim;
  const int threads = static_cast<int>(std::clamp<int64_t>((vecs + 31) / 32 * 32, 32, 1024));
  if (vec)
    rms_norm_kernel<8><<<static_cast<unsigned>(n), threads, 0, stream>>>(x, residual, dim, weight, eps, y);
  else
    rms_norm_kernel<1><<<static_cast<unsigned>(n), threads, 0, stream>>>(x, residual, dim, weight, eps, y);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
