#pragma once
// The plain form of the decode-sized batched product (gemv_batched.cu), y_b = x_b · W_b with W_b
// [in, out], as a block body: shared with write_latent_cache_and_absorb (latent_cache.cu), which
// runs MLA's absorption in the launch that writes the cache.
// A thread takes 8 adjacent output features (one 16-byte load per input row) and one of
// kBatchedRowGroups groups of the input rows; the groups are summed in shared memory.
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/ops.h"

namespace tide::cuda {

constexpr int kBatchedThreads = 256;
constexpr int kBatchedColumnThreads = 8;
constexpr int kBatchedRowGroups = kBatchedThreads / kBatchedColumnThreads;
constexpr int kBatchedPlainFeatures = kBatchedColumnThreads * 8;  // a block's output features

__device__ __forceinline__ void add_products(float (&acc)[8], const uint4& w, float x) {
  const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&w);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 wf = __bfloat1622float2(w2[i]);
    acc[2 * i] += wf.x * x;
    acc[2 * i + 1] += wf.y * x;
  }
}

// x read early (kEarly, BatchedGemm::x_ready_early): from L2, where the launch before ours has not
// been waited for; otherwise as any input. A template parameter keeps the choice out of the inner loop.
template <bool kEarly>
__device__ __forceinline__ float load_x(const __nv_bfloat16* p) {
  if constexpr (kEarly) return __bfloat162float(__ldcg(p));
  else return __bfloat162float(*p);
}

// Block (block_x, b) of the plain form's grid (ceil(out / kBatchedPlainFeatures), batch), with
// kBatchedThreads threads: y_b[r, o] for its 64 features o.
template <int kRows, bool kEarly>
__device__ __forceinline__ void batched_plain_block(const BatchedGemm& g, int64_t block_x, int64_t b) {
  __shared__ float partial[kBatchedRowGroups][kRows][kBatchedPlainFeatures];
  const __nv_bfloat16* x = g.x + b * g.x_batch_stride;
  const __nv_bfloat16* w = g.w + b * g.w_batch_stride;
  const int column = threadIdx.x % kBatchedColumnThreads, group = threadIdx.x / kBatchedColumnThreads;
  const int64_t first = block_x * kBatchedPlainFeatures, o = first + column * 8;
  float acc[kRows][8] = {};
  if (o < g.out)
    for (int64_t i = group; i < g.in; i += kBatchedRowGroups) {
      const uint4 wi = *reinterpret_cast<const uint4*>(w + i * g.w_ld + o);
#pragma unroll
      for (int r = 0; r < kRows; ++r) add_products(acc[r], wi, load_x<kEarly>(x + r * g.x_ld + i));
    }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int j = 0; j < 8; ++j) partial[group][r][column * 8 + j] = acc[r][j];
  __syncthreads();
  for (int k = threadIdx.x; k < kRows * kBatchedPlainFeatures; k += kBatchedThreads) {
    const int r = k / kBatchedPlainFeatures, f = k % kBatchedPlainFeatures;
    if (first + f >= g.out) continue;
    float sum = 0.f;
#pragma unroll 8
    for (int p = 0; p < kBatchedRowGroups; ++p) sum += partial[p][r][f];
    g.y[b * g.y_batch_stride + r * g.y_ld + first + f] = __float2bfloat16(sum);
  }
}

}  // namespace tide::cuda
