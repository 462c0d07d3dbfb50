// The MoE step around the expert GEMMs: group the router's assignments by expert so that each
// expert's tokens are consecutive rows (moe_grouped_gemm, or one GEMM per expert over its slice),
// then combine each token's expert outputs with its gate weights. The twin of MoeBlock::forward's
// `assigned` lists and its weighted sum.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kGroupThreads = 1024;
constexpr int kMaxExperts = 1024;

// One block: count per expert, prefix sum, then place each assignment at its expert's cursor.
// The order within an expert is whatever the atomics give: each GEMM output row depends on its
// input row alone, and combine reads back through assignment_row, so results do not depend on it.
__global__ void group_by_expert_kernel(const int32_t* ids, int64_t assignments, int top_k, int experts,
                                       int32_t* counts, int32_t* offsets, int32_t* permuted_token,
                                       int32_t* assignment_row) {
  begin_dependent_kernel();
  __shared__ int32_t count[kMaxExperts];
  __shared__ int32_t cursor[kMaxExperts];
  for (int e = threadIdx.x; e < experts; e += blockDim.x) count[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < assignments; i += blockDim.x) atomicAdd(&count[ids[i]], 1);
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t running = 0;
    for (int e = 0; e < experts; ++e) {
      cursor[e] = running;
      offsets[e] = running;
      counts[e] = count[e];
      running += count[e];
    }
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < assignments; i += blockDim.x) {
    const int32_t row = atomicAdd(&cursor[ids[i]], 1);
    permuted_token[row] = static_cast<int32_t>(i / top_k);
    assignment_row[i] = row;
  }
}

// kVector: eight features per thread with 16-byte loads (dim % 8 == 0), else one.
template <bool kVector>
__global__ void combine_kernel(const bf16* expert_out, const int32_t* assignment_row, const float* weights,
                               int64_t dim, int top_k, const bf16* base, bf16* out) {
  begin_dependent_kernel();
  constexpr int kWidth = kVector ? 8 : 1;
  const int64_t token = blockIdx.x;
  for (int64_t d = threadIdx.x * kWidth; d < dim; d += blockDim.x * kWidth) {
    float sum[kWidth];
    for (int i = 0; i < kWidth; ++i) sum[i] = base ? __bfloat162float(base[token * dim + d + i]) : 0.f;
    for (int j = 0; j < top_k; ++j) {
      const int64_t a = token * top_k + j;
      const int64_t row = assignment_row[a];
      const float weight = weights[a];
      if constexpr (kVector) {
        const uint4 packed = *reinterpret_cast<const uint4*>(expert_out + row * dim + d);
        const bf16* v = reinterpret_cast<const bf16*>(&packed);
#pragma unroll
        for (int i = 0; i < kWidth; ++i) sum[i] += weight * __bfloat162float(v[i]);
      } else {
        sum[0] += weight * __bfloat162float(expert_out[row * dim + d]);
      }
    }
    if constexpr (kVector) {
      uint4 packed;
      bf16* v = reinterpret_cast<bf16*>(&packed);
#pragma unroll
      for (int i = 0; i < kWidth; ++i) v[i] = __float2bfloat16(sum[i]);
      *reinterpret_cast<uint4*>(out + token * dim + d) = packed;
    } else {
      out[token * dim + d] = __float2bfloat16(sum[0]);
    }
  }
}

}  // namespace

void moe_group_by_expert(const int32_t* ids, int64_t tokens, int top_k, int experts, int32_t* expert_counts,
                         int32_t* expert_offsets, int32_t* permuted_token, int32_t* assignment_row,
                         cudaStream_t stream) {
  if (experts <= 0 || experts > kMaxExperts || top_k <= 0)
    throw Error("moe_group_by_expert: needs 1..1024 experts and top_k >= 1 (got " + std::to_string(experts) +
                " experts, top_k " + std::to_string(top_k) + ")");
  launch_dependent(group_by_expert_kernel, 1, kGroupThreads, 0, stream, ids, tokens * top_k, top_k, experts,
                   expert_counts, expert_offsets, permuted_token, assignment_row);
  TIDE_CUDA_CHECK_LAUNCH();
}

void moe_combine(const bf16* expert_out, const int32_t* assignment_row, const float* weights, int64_t tokens,
                 int top_k, int64_t dim, const bf16* base, bf16* out, cudaStream_t stream) {
  if (tokens <= 0) return;
  if (!assignment_row) throw Error("moe_combine: assignment_row is required (moe_group_by_expert's)");
  // 16-byte accesses need every row 16-byte aligned: dim % 8 == 0 and aligned buffers.
  const bool vector = dim % 8 == 0 && (reinterpret_cast<uintptr_t>(expert_out) | reinterpret_cast<uintptr_t>(out) |
                                       reinterpret_cast<uintptr_t>(base)) % 16 == 0;
  const int64_t lanes = vector ? dim / 8 : dim;
  const int threads = lanes >= 256 ? 256 : static_cast<int>((lanes + 31) / 32 * 32);
  if (vector)
    launch_dependent(combine_kernel<true>, static_cast<unsigned>(tokens), threads, 0, stream, expert_out,
                     assignment_row, weights, dim, top_k, base, out);
  else
    launch_dependent(combine_kernel<false>, static_cast<unsigned>(tokens), threads, 0, stream, expert_out,
                     assignment_row, weights, dim, top_k, base, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
