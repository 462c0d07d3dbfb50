#pragma once
// The block body of the decode-sized dense GEMV (gemv_nt; see gemv.cu), shared with the kernels
// that fuse it with what follows (route_experts_gemv). y[r, first + f] = x[r, :in] · W[first + f, :in]
// for the block's kGemvFeatures features and kRows rows.
#include <cuda_bf16.h>

#include <cstdint>

#include "backend/cuda/gemv_input.cuh"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {

constexpr int kGemvThreads = 256;
// Output features per block: they share each input chunk a thread reads.
constexpr int kGemvFeatures = 8;

// Not volatile: the compiler may hoist a thread's loads ahead of the arithmetic that waits on them.
__device__ __forceinline__ uint4 load_streaming(const __nv_bfloat16* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ void store_output(__nv_bfloat16* y, float v) { *y = __float2bfloat16(v); }
__device__ __forceinline__ void store_output(float* y, float v) { *y = v; }

// The block's threads ask L2 for [p, p + bytes), a 128-byte line each: for weights a kernel may
// read before its griddepcontrol.wait, while the kernel before it finishes.
__device__ __forceinline__ void prefetch_l2(const void* p, int64_t bytes) {
  const char* base = static_cast<const char*>(p);
  for (int64_t byte = threadIdx.x * int64_t{128}; byte < bytes; byte += blockDim.x * int64_t{128})
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(base + byte));
}

// The block's weight rows (features first.., of `in` each) and no kernel writes them: a kernel
// pulls the start of them towards L2 before its griddepcontrol.wait, while the kernel before it
// finishes. Capped, so that the blocks of a large matrix do not flood L2 ahead of their reads.
__device__ __forceinline__ void gemv_prefetch(const __nv_bfloat16* w, int64_t out, int64_t in, int64_t first) {
  constexpr int64_t kPrefetchBytes = 32 * 1024;
  const int64_t features = first + kGemvFeatures <= out ? kGemvFeatures : out - first;
  const int64_t slice_bytes = features * in * int64_t{sizeof(__nv_bfloat16)};
  prefetch_l2(w + first * in, slice_bytes < kPrefetchBytes ? slice_bytes : kPrefetchBytes);
}

__device__ __forceinline__ void load_weight_chunks(const __nv_bfloat16* w, int64_t out, int64_t in, int64_t first,
                                                   int64_t c, uint4 (&weights)[kGemvFeatures]) {
#pragma unroll
  for (int f = 0; f < kGemvFeatures; ++f)
    weights[f] = first + f < out ? load_streaming(w + (first + f) * in + c) : make_uint4(0, 0, 0, 0);
}

// 16 bytes of weights asked for before the kernel's griddepcontrol.wait: volatile, unlike
// load_streaming, so that the load stays ahead of the wait (weights are never written by a kernel,
// so they travel while the launch before finishes).
__device__ __forceinline__ uint4 load_weights_early(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// The thread's first chunk of each of the block's weight rows (and of the norm's weights), asked
// for before the kernel's begin_dependent_kernel(): weights are never written by a kernel, so
// they travel while the kernel before finishes. Where `in` is at most kGemvThreads·8 (V2-Lite's
// 2048), that is all of the block's weights.
struct GemvFirstChunk {
  uint4 weights[kGemvFeatures];
  uint4 norm_weight;
};
__device__ __forceinline__ GemvFirstChunk gemv_first_chunk(const GemvInput& x, const __nv_bfloat16* w, int64_t out,
                                                           int64_t in, int64_t first) {
  GemvFirstChunk chunk{};
  const int64_t start = threadIdx.x * 8;
  if (start >= in) return chunk;
#pragma unroll
  for (int f = 0; f < kGemvFeatures; ++f)
    if (first + f < out) chunk.weights[f] = load_weights_early(w + (first + f) * in + start);
  if (x.norm_weight) chunk.norm_weight = load_weights_early(x.norm_weight + start);
  return chunk;
}

// Each thread streams 16-byte chunks of every feature's weight row (bypassing L1: each is read
// once) and reads the matching chunk of the kRows input rows once for all of them; then the block
// sums the partial dots. Call after the kernel's begin_dependent_kernel(), with the first chunk
// that gemv_first_chunk asked for before it.
// kNormed: the rows are normalised as they are read (GemvInput's norm_weight); otherwise x.x as
// stored.
template <int kRows, bool kNormed, typename Out>
__device__ __forceinline__ void gemv_block(const GemvInput& x, const __nv_bfloat16* w, int64_t out, int64_t in,
                                           int64_t first, const GemvFirstChunk& first_chunk, Out* y) {
  uint4 weights[kGemvFeatures];
#pragma unroll
  for (int f = 0; f < kGemvFeatures; ++f) weights[f] = first_chunk.weights[f];
  uint4 norm_weight = first_chunk.norm_weight;
  const int64_t start = threadIdx.x * 8;
  float inv[kRows];
  if constexpr (kNormed)
#pragma unroll
    for (int r = 0; r < kRows; ++r) inv[r] = inverse_rms(x, r, in);
  float acc[kGemvFeatures][kRows] = {};
  for (int64_t c = start; c < in; c += kGemvThreads * 8) {
    if (c != start) {
      load_weight_chunks(w, out, in, first, c, weights);
      if constexpr (kNormed) norm_weight = norm_weight_chunk(x, c);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const uint4 xp = kNormed ? normed_chunk(x, r, in, c, inv[r], norm_weight)
                               : __ldg(reinterpret_cast<const uint4*>(x.x + r * in + c));
      const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xp);
      float2 xf[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) xf[i] = __bfloat1622float2(x2[i]);
#pragma unroll
      for (int f = 0; f < kGemvFeatures; ++f) {
        const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&weights[f]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 wf = __bfloat1622float2(w2[i]);
          acc[f][r] += wf.x * xf[i].x + wf.y * xf[i].y;
        }
      }
    }
  }
  // Each warp's sums, then the block's.
  __shared__ float partial[kGemvThreads / 32][kGemvFeatures * kRows];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int f = 0; f < kGemvFeatures; ++f)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = warp_sum(acc[f][r]);
      if (lane == 0) partial[warp][f * kRows + r] = v;
    }
  __syncthreads();
  if (threadIdx.x < kGemvFeatures * kRows) {
    const int f = threadIdx.x / kRows, r = threadIdx.x % kRows;
    if (first + f < out) {
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < kGemvThreads / 32; ++i) sum += partial[i][threadIdx.x];
      store_output(y + r * out + first + f, sum);
    }
  }
}

}  // namespace tide::cuda
