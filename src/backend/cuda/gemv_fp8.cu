// Decode-sized GEMV over fp8 weights as DeepSeek-V3's checkpoints store them, with the
// activations quantized to e4m3 per 1×128 block as they are read: the arithmetic of
// quantize_fp8_blocks then Gemm::fp8_block_nt (the same e4m3 values and scales), so that a step
// of two rows and one of two hundred differ only in the order of their sums. A decode product is
// bound by the bytes it reads, and these are half the bf16 path's.
// The layout follows gemv_nt (gemv.cu): a block owns kGemvFeatures output features and its 256
// threads split their rows in 16-byte chunks (16 weights), reading the matching 16 activations of
// the n input rows once for all of them. A chunk lies inside one 128-wide block, so its sum takes
// one weight scale and one activation scale; the 8 lanes that read an activation block find its
// amax together.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/fp8_block.cuh"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/gemv_input.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kChunk = 16;  // e4m3 weights in a 16-byte load

// Chunk c of row r of x (16 activations) as floats: as stored, or normalised as read.
template <bool kNormed>
__device__ __forceinline__ void input_chunk(const GemvInput& x, int r, int64_t in, int64_t c, float inv,
                                            float (&v)[kChunk]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t at = c + half * 8;
    const uint4 packed = kNormed ? normed_chunk(x, r, in, at, inv, norm_weight_chunk(x, at))
                                 : __ldg(reinterpret_cast<const uint4*>(x.x + r * in + at));
    const __nv_bfloat162* p = reinterpret_cast<const __nv_bfloat162*>(&packed);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(p[i]);
      v[half * 8 + 2 * i] = f.x;
      v[half * 8 + 2 * i + 1] = f.y;
    }
  }
}

// The chunk's activations to the e4m3 values of their 1×128 block, as quantize_fp8_blocks rounds
// them (the block's amax over the 8 lanes that read it, its scale, each value times the inverse);
// returns the block's scale. A row's blocks are whole (in % 128 == 0), so the 8 lanes of a block
// run the loop alike.
__device__ __forceinline__ float quantize_chunk(float (&v)[kChunk]) {
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < kChunk; ++i) amax = fmaxf(amax, fabsf(v[i]));
  const unsigned group = 0xffu << (threadIdx.x % 32 & ~7u);
#pragma unroll
  for (int offset = 4; offset > 0; offset >>= 1) amax = fmaxf(amax, __shfl_xor_sync(group, amax, offset));
  const float scale = fp8_block_scale(amax), inverse = 1.f / scale;
#pragma unroll
  for (int i = 0; i < kChunk; ++i) v[i] = static_cast<float>(__nv_fp8_e4m3(v[i] * inverse));
  return scale;
}

// Σ w_i · v_i over a chunk of 16 e4m3 weights.
__device__ __forceinline__ float dot_e4m3(const uint4& w, const float (&v)[kChunk]) {
  const __nv_fp8x2_storage_t* pairs = reinterpret_cast<const __nv_fp8x2_storage_t*>(&w);
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < kChunk / 2; ++i) {
    const float2 f = __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(pairs[i], __NV_E4M3)));
    sum += f.x * v[2 * i] + f.y * v[2 * i + 1];
  }
  return sum;
}

template <int kRows, bool kNormed>
__global__ void __launch_bounds__(kGemvThreads) gemv_fp8_kernel(GemvInput x, const uint8_t* w, const float* scales,
                                                                 int64_t out, int64_t in, bf16* y) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kGemvFeatures;
  const int64_t features = first + kGemvFeatures <= out ? kGemvFeatures : out - first;
  // The block's weight rows are weights: asked of L2 while the kernel before finishes.
  prefetch_l2(w + first * in, features * in < 32 * 1024 ? features * in : 32 * 1024);
  begin_dependent_kernel();
  float inv[kRows] = {};
  if constexpr (kNormed)
#pragma unroll
    for (int r = 0; r < kRows; ++r) inv[r] = inverse_rms(x, r, in);
  const int64_t scale_cols = in / 128;
  float acc[kGemvFeatures][kRows] = {};
  for (int64_t c = threadIdx.x * int64_t{kChunk}; c < in; c += kGemvThreads * int64_t{kChunk}) {
    uint4 weights[kGemvFeatures];
#pragma unroll
    for (int f = 0; f < kGemvFeatures; ++f)
      weights[f] = f < features ? __ldg(reinterpret_cast<const uint4*>(w + (first + f) * in + c)) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v[kChunk];
      input_chunk<kNormed>(x, r, in, c, inv[r], v);
      const float x_scale = quantize_chunk(v);
#pragma unroll
      for (int f = 0; f < kGemvFeatures; ++f)
        if (f < features)
          acc[f][r] += scales[((first + f) / 128) * scale_cols + c / 128] * x_scale * dot_e4m3(weights[f], v);
    }
  }
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
    if (f < features) {
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < kGemvThreads / 32; ++i) sum += partial[i][threadIdx.x];
      y[r * out + first + f] = __float2bfloat16(sum);
    }
  }
}

template <int kRows>
void launch_rows(const GemvInput& x, const uint8_t* w, const float* scales, int64_t out, int64_t in, bf16* y,
                 cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((out + kGemvFeatures - 1) / kGemvFeatures));
  if (x.norm_weight)
    launch_dependent(gemv_fp8_kernel<kRows, true>, grid, kGemvThreads, 0, stream, x, w, scales, out, in, y);
  else
    launch_dependent(gemv_fp8_kernel<kRows, false>, grid, kGemvThreads, 0, stream, x, w, scales, out, in, y);
}

// gemv_fp8_batched: per-head matrices of a few hundred KB with rows of 128 to 512 (MLA's
// absorption and value expansion), where gemv_fp8's 256 threads a row would leave most idle.
// Eight lanes take a feature's row one 128-wide block at a time (a 16-byte chunk each, the eight
// finding the block's activation amax together), so a warp runs four rows at once; each group of
// eight takes two features, a block 64.
constexpr int kGroupLanes = 8;
constexpr int kFeaturesPerGroup = 2;
constexpr int kHeadFeatures = kGemvThreads / kGroupLanes * kFeaturesPerGroup;

// grid (ceil(out / kHeadFeatures), batch)
template <int kRows>
__global__ void __launch_bounds__(kGemvThreads) gemv_fp8_batched_kernel(Fp8BatchedGemv g) {
  const int64_t b = blockIdx.y;
  const int part = threadIdx.x % kGroupLanes;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kHeadFeatures + threadIdx.x / kGroupLanes * kFeaturesPerGroup;
  const uint8_t* w = g.w + b * g.w_batch_stride;
  const float* scales = g.w_scales + b * g.w_scale_batch_stride;
  const int64_t scale_cols = g.in / 128;
  // The block's weight rows (no kernel writes them), towards L2 while the kernel before finishes.
  const int64_t block_first = static_cast<int64_t>(blockIdx.x) * kHeadFeatures;
  const int64_t block_rows = block_first + kHeadFeatures <= g.out ? kHeadFeatures : g.out - block_first;
  prefetch_l2(w + block_first * g.in, block_rows * g.in);
  begin_dependent_kernel();
  float acc[kFeaturesPerGroup][kRows] = {};
  for (int64_t block = 0; block < scale_cols; ++block) {
    const int64_t c = block * 128 + part * kChunk;
    uint4 weights[kFeaturesPerGroup];
#pragma unroll
    for (int f = 0; f < kFeaturesPerGroup; ++f)
      weights[f] = first + f < g.out ? __ldg(reinterpret_cast<const uint4*>(w + (first + f) * g.in + c))
                                     : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float v[kChunk];
      input_chunk<false>({.x = g.x + b * g.x_batch_stride + r * g.x_ld}, 0, 0, c, 0.f, v);
      const float x_scale = quantize_chunk(v);
#pragma unroll
      for (int f = 0; f < kFeaturesPerGroup; ++f)
        if (first + f < g.out)
          acc[f][r] += scales[((first + f) / 128) * scale_cols + block] * x_scale * dot_e4m3(weights[f], v);
    }
  }
#pragma unroll
  for (int f = 0; f < kFeaturesPerGroup; ++f)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      float sum = acc[f][r];
#pragma unroll
      for (int offset = kGroupLanes / 2; offset > 0; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (part == 0 && first + f < g.out)
        g.y[b * g.y_batch_stride + r * g.y_ld + first + f] = __float2bfloat16(sum);
    }
}

}  // namespace

void gemv_fp8_batched(const Fp8BatchedGemv& g, cudaStream_t stream) {
  if (g.rows <= 0 || g.out <= 0 || g.batch <= 0) return;
  const uintptr_t addresses = reinterpret_cast<uintptr_t>(g.x) | reinterpret_cast<uintptr_t>(g.w);
  if (g.rows > kGemvMaxRows || g.in <= 0 || g.in % 128 != 0 || addresses % 16 != 0 || g.x_ld % 8 != 0 ||
      g.x_batch_stride % 8 != 0 || g.w_batch_stride % 16 != 0 || !g.w_scales || g.batch > 65535 ||
      (g.out + kHeadFeatures - 1) / kHeadFeatures > int64_t{0x7fffffff})
    throw Error("gemv_fp8_batched: needs 1.." + std::to_string(kGemvMaxRows) +
                " rows, in a positive multiple of 128, 16-byte aligned rows and entries, and the weights' scales "
                "(got rows " + std::to_string(g.rows) + ", in " + std::to_string(g.in) + ", out " +
                std::to_string(g.out) + ")");
  const dim3 grid(static_cast<unsigned>((g.out + kHeadFeatures - 1) / kHeadFeatures), static_cast<unsigned>(g.batch));
  static_assert(kGemvMaxRows == 2, "gemv_fp8_batched instantiates one and two rows");
  if (g.rows == 1) launch_dependent(gemv_fp8_batched_kernel<1>, grid, kGemvThreads, 0, stream, g);
  else launch_dependent(gemv_fp8_batched_kernel<2>, grid, kGemvThreads, 0, stream, g);
  TIDE_CUDA_CHECK_LAUNCH();
}

void gemv_fp8(const GemvInput& x, int64_t n, const uint8_t* w, const float* scales, int64_t out, int64_t in, bf16* y,
              cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  const uintptr_t addresses = reinterpret_cast<uintptr_t>(x.x) | reinterpret_cast<uintptr_t>(x.delta) |
                              reinterpret_cast<uintptr_t>(x.norm_weight) | reinterpret_cast<uintptr_t>(w);
  if (n > kGemvMaxRows || in <= 0 || in % 128 != 0 || addresses % 16 != 0 ||
      (out + kGemvFeatures - 1) / kGemvFeatures > int64_t{0x7fffffff})
    throw Error("gemv_fp8: needs 1.." + std::to_string(kGemvMaxRows) +
                " rows, in a positive multiple of 128 (whole scale blocks) and 16-byte aligned rows (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ", out " + std::to_string(out) + ")");
  static_assert(kGemvMaxRows == 2, "gemv_fp8 instantiates one and two rows");
  if (n == 1) launch_rows<1>(x, w, scales, out, in, y, stream);
  else launch_rows<2>(x, w, scales, out, in, y, stream);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
