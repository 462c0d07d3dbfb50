#pragma once
// Rotary embedding of one token's heads by a block or a few: the rope kernel runs it alone, the
// MLA cache write beside the cache entry of the same token (write_latent_cache with a query).
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/ops.h"

namespace tide::cuda {

// One thread per rotated pair of one head: the token's cos/sin row (rope_dim/2 floats) is shared by
// all its heads and stays in L1, so each rotated element moves once each way. Rope touches 64 of
// 192 (q) or 64 of 576 (cache entry) elements per head, too few and too strided for vector loads.
// Pairs first, first + stride, ... of the token's heads × rope_dim/2 pairs, a thread each: one
// block takes them all (first = threadIdx.x, stride = blockDim.x), or several blocks share them.
__device__ __forceinline__ void rope_token(const RopeArgs& a, int64_t token, int first_pair, int stride) {
  const int half = a.rope_dim / 2;
  const int pos = a.positions[token];
  const float* cos = a.cos + static_cast<int64_t>(pos) * half;
  const float* sin = a.sin + static_cast<int64_t>(pos) * half;
  const bf16* base = a.x + token * a.token_stride + a.rope_offset;
  bf16* out_base =
      a.out ? a.out + token * a.out_token_stride + a.out_offset : a.x + token * a.token_stride + a.rope_offset;
  const int64_t out_head_stride = a.out ? a.out_head_stride : a.head_stride;
  const int first = a.interleaved ? 2 : 1, second_offset = a.interleaved ? 1 : half;
  for (int p = first_pair; p < a.heads * half; p += stride) {
    const int head = p / half, i = p % half;
    const int64_t ia = static_cast<int64_t>(first) * i, ib = ia + second_offset;
    const bf16* v = base + head * a.head_stride;
    bf16* o = out_base + head * out_head_stride;
    const float x0 = __bfloat162float(v[ia]), x1 = __bfloat162float(v[ib]);
    o[ia] = __float2bfloat16(x0 * cos[i] - x1 * sin[i]);
    o[ib] = __float2bfloat16(x1 * cos[i] + x0 * sin[i]);
  }
}

}  // namespace tide::cuda
