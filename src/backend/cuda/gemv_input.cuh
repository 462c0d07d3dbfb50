#pragma once
// Reading a decode-sized kernel's input rows (GemvInput in ops.h): as stored, or normalised as
// they are read. The normalised form is rms_norm's arithmetic in rms_norm's order: each thread
// sums the squares of its 8-element chunks c = threadIdx.x * 8, + blockDim.x * 8, ... and the
// block sums the threads' sums, so that with rms_norm's block size (one chunk a thread: a 256-
// thread block over 2048 features) the result is bit for bit rms_norm's.
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {

// How a kernel reads its input rows: through the read-only cache (the rows were written before the
// kernel's griddepcontrol.wait returned), or from L2 alone, for blocks that read rows written
// before the kernel was launched without waiting for the kernel before them: their SM's L1 may
// still hold lines of the same buffers from an earlier layer.
enum class InputLoad { ReadOnly, L2 };

template <InputLoad kLoad>
__device__ __forceinline__ uint4 load_input(const bf16* p) {
  if constexpr (kLoad == InputLoad::L2) return __ldcg(reinterpret_cast<const uint4*>(p));
  return __ldg(reinterpret_cast<const uint4*>(p));
}

// Elements [c, c + 8) of row r as the residual holds them after rms_norm's add (rounded to bf16).
template <InputLoad kLoad = InputLoad::ReadOnly>
__device__ __forceinline__ void summed_chunk(const GemvInput& in, int64_t row_offset, int64_t c, float (&v)[8]) {
  const uint4 xp = load_input<kLoad>(in.x + row_offset + c);
  const bf16* x = reinterpret_cast<const bf16*>(&xp);
  if (in.delta) {
    const uint4 dp = load_input<kLoad>(in.delta + row_offset + c);
    const bf16* d = reinterpret_cast<const bf16*>(&dp);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __bfloat162float(__float2bfloat16(__bfloat162float(x[i]) + __bfloat162float(d[i])));
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __bfloat162float(x[i]);
  }
}

// 1 / sqrt(mean(v²) + eps) of row `row` of width dim (a multiple of 8); every thread of the block
// must call it and gets the result.
__device__ __forceinline__ float inverse_rms(const GemvInput& in, int64_t row, int64_t dim) {
  float sum = 0.f;
  for (int64_t c = threadIdx.x * int64_t{8}; c < dim; c += blockDim.x * int64_t{8}) {
    float v[8];
    summed_chunk(in, row * dim, c, v);
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += v[i] * v[i];
  }
  sum = block_sum(sum);
  return 1.f / sqrtf(sum / static_cast<float>(dim) + in.eps);
}

__device__ __forceinline__ uint4 norm_weight_chunk(const GemvInput& in, int64_t c) {
  return __ldg(reinterpret_cast<const uint4*>(in.norm_weight + c));
}

// Elements [c, c + 8) of row `row`, normalised with its inverse RMS and rounded to bf16 as
// rms_norm stores them; wp: norm_weight_chunk(in, c), which a caller may load early.
__device__ __forceinline__ uint4 normed_chunk(const GemvInput& in, int64_t row, int64_t dim, int64_t c, float inv,
                                              const uint4& wp) {
  float v[8];
  summed_chunk(in, row * dim, c, v);
  const bf16* w = reinterpret_cast<const bf16*>(&wp);
  uint4 out;
  bf16* o = reinterpret_cast<bf16*>(&out);
#pragma unroll
  for (int i = 0; i < 8; ++i) o[i] = __float2bfloat16(v[i] * inv * __bfloat162float(w[i]));
  return out;
}

// Row `row` normalised into out[dim] as fp32 values of the bf16 that rms_norm stores, reading
// the row once (each thread keeps its chunks in out between the passes); block-wide, as
// inverse_rms.
template <InputLoad kLoad = InputLoad::ReadOnly>
__device__ __forceinline__ void normalise_into(const GemvInput& in, int64_t row, int64_t dim, float* out) {
  float sum = 0.f;
  for (int64_t c = threadIdx.x * int64_t{8}; c < dim; c += blockDim.x * int64_t{8}) {
    float v[8];
    summed_chunk<kLoad>(in, row * dim, c, v);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      sum += v[i] * v[i];
      out[c + i] = v[i];
    }
  }
  sum = block_sum(sum);
  const float inv = 1.f / sqrtf(sum / static_cast<float>(dim) + in.eps);
  for (int64_t c = threadIdx.x * int64_t{8}; c < dim; c += blockDim.x * int64_t{8}) {
    const uint4 wp = __ldg(reinterpret_cast<const uint4*>(in.norm_weight + c));
    const bf16* w = reinterpret_cast<const bf16*>(&wp);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[c + i] = __bfloat162float(__float2bfloat16(out[c + i] * inv * __bfloat162float(w[i])));
  }
}

}  // namespace tide::cuda
