// Decode-sized batched products (BatchedGemm in ops.h, at most kGemvMaxRows rows): MLA's per-head
// absorption through kv_b_proj at decode, where each head's matrix is a few hundred KB and a
// cuBLASLt launch costs more than reading it, and (not being a dependent launch) makes the kernels
// on either side of it wait for a full drain.
//   W_bᵀ (W_b [out, in]): a warp per output feature, its lanes streaming the row in 16-byte chunks.
//   W_b  (W_b [in, out]): a thread per 8 adjacent output features (one 16-byte load per input row),
//                         32 groups of threads splitting the input rows, summed in shared memory.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/gemv_batched.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kThreads = kBatchedThreads;
constexpr int kFeaturesPerWarp = 2;  // transposed form
constexpr int kTransposedFeatures = kThreads / 32 * kFeaturesPerWarp;

__device__ __forceinline__ float dot8(const uint4& w, const uint4& x) {
  const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&w);
  const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&x);
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 wf = __bfloat1622float2(w2[i]), xf = __bfloat1622float2(x2[i]);
    sum += wf.x * xf.x + wf.y * xf.y;
  }
  return sum;
}

// x read early (kEarly, BatchedGemm::x_ready_early): from L2, where the launch before ours has not
// been waited for; otherwise as any input. A template parameter keeps the choice out of the inner loop.
template <bool kEarly>
__device__ __forceinline__ uint4 load_x8(const bf16* p) {
  if constexpr (kEarly) return __ldcg(reinterpret_cast<const uint4*>(p));
  else return *reinterpret_cast<const uint4*>(p);
}

// x read early: the wait for the launch before comes at the end instead (BatchedGemm).
template <bool kEarly>
__device__ __forceinline__ void start_kernel() {
  if constexpr (kEarly) allow_dependent_grids();
  else begin_dependent_kernel();
}

// grid (feature blocks, batch): y_b[r, o] = Σ_i x_b[r, i] · W_b[o, i]. Each lane's first chunk of
// its warp's weight rows is asked for before the wait: for MLA's W_UV (in = 512) that is half of it.
template <int kRows, bool kEarly>
__global__ void __launch_bounds__(kThreads) transposed_kernel(BatchedGemm g) {
  const int64_t b = blockIdx.y;
  const bf16* x = g.x + b * g.x_batch_stride;
  const bf16* w = g.w + b * g.w_batch_stride;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kTransposedFeatures + warp * kFeaturesPerWarp;
  const int64_t start = lane * 8;
  uint4 weights[kFeaturesPerWarp] = {};
#pragma unroll
  for (int f = 0; f < kFeaturesPerWarp; ++f)
    if (first + f < g.out && start < g.in) weights[f] = load_weights_early(w + (first + f) * g.w_ld + start);
  start_kernel<kEarly>();
  float acc[kFeaturesPerWarp][kRows] = {};
  for (int64_t c = start; c < g.in; c += 32 * 8) {
    if (c != start)
#pragma unroll
      for (int f = 0; f < kFeaturesPerWarp; ++f)
        weights[f] = first + f < g.out ? *reinterpret_cast<const uint4*>(w + (first + f) * g.w_ld + c)
                                       : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const uint4 xr = load_x8<kEarly>(x + r * g.x_ld + c);
#pragma unroll
      for (int f = 0; f < kFeaturesPerWarp; ++f) acc[f][r] += dot8(weights[f], xr);
    }
  }
#pragma unroll
  for (int f = 0; f < kFeaturesPerWarp; ++f)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float sum = warp_sum(acc[f][r]);
      if (lane == 0 && first + f < g.out) g.y[b * g.y_batch_stride + r * g.y_ld + first + f] = __float2bfloat16(sum);
    }
  if constexpr (kEarly) wait_for_prior_grids();
}

// grid (feature blocks, batch): y_b[r, o] = Σ_i x_b[r, i] · W_b[i, o].
template <int kRows, bool kEarly>
__global__ void __launch_bounds__(kThreads) plain_kernel(BatchedGemm g) {
  start_kernel<kEarly>();
  batched_plain_block<kRows, kEarly>(g, blockIdx.x, blockIdx.y);
  if constexpr (kEarly) wait_for_prior_grids();
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int kRows, bool kEarly>
void launch(const BatchedGemm& g, cudaStream_t stream) {
  const int64_t per_block = g.w_transposed ? kTransposedFeatures : kBatchedPlainFeatures;
  const dim3 grid(static_cast<unsigned>((g.out + per_block - 1) / per_block), static_cast<unsigned>(g.batch));
  if (g.w_transposed)
    launch_dependent(transposed_kernel<kRows, kEarly>, grid, kThreads, 0, stream, g);
  else
    launch_dependent(plain_kernel<kRows, kEarly>, grid, kThreads, 0, stream, g);
}

template <int kRows>
void launch(const BatchedGemm& g, cudaStream_t stream) {
  if (g.x_ready_early) launch<kRows, true>(g, stream);
  else launch<kRows, false>(g, stream);
}

}  // namespace

bool gemv_batched_supported(const BatchedGemm& g) {
  if (g.n < 1 || g.n > kGemvMaxRows || g.batch < 1 || g.batch > 65535 || g.out < 1 || g.in < 1) return false;
  const bool weights = aligned16(g.w) && g.w_ld % 8 == 0 && g.w_batch_stride % 8 == 0;
  if (!g.w_transposed) return weights && g.out % 8 == 0;  // x is read an element at a time
  return weights && g.in % 8 == 0 && aligned16(g.x) && g.x_ld % 8 == 0 && g.x_batch_stride % 8 == 0;
}

void gemv_batched(const BatchedGemm& g, cudaStream_t stream) {
  if (!gemv_batched_supported(g))
    throw Error("gemv_batched: needs 1.." + std::to_string(kGemvMaxRows) +
                " rows and 16-byte aligned rows of the matrices (and, with W transposed, of x); got n " +
                std::to_string(g.n) + ", in " + std::to_string(g.in) + ", out " + std::to_string(g.out));
  static_assert(kGemvMaxRows == 2, "gemv_batched instantiates one and two rows");
  if (g.n == 1) launch<1>(g, stream);
  else launch<2>(g, stream);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
