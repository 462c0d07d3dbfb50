// The MoE step around the expert GEMMs: group the router's assignments by expert so that each
// expert's tokens are consecutive rows (one GEMM per expert over its slice), then combine each
// token's expert outputs with its gate weights. The twin of MoeBlock::forward's `assigned`
// lists and its weighted sum.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
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

__global__ void combine_kernel(const bf16* expert_out, const int32_t* assignment_row, const float* weights,
                               int64_t dim, int top_k, const bf16* base, bf16* out) {
  const int64_t token = blockIdx.x;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float sum = base ? __bfloat162float(base[token * dim + d]) : 0.f;
    for (int j = 0; j < top_k; ++j) {
      const int64_t a = token * top_k + j;
      const int64_t row = assignment_row ? assignment_row[a] : a;
      sum += weights[a] * __bfloat162float(expert_out[row * dim + d]);
    }
    out[token * dim + d] = __float2bfloat16(sum);
  }
}

}  // namespace

void moe_group_by_expert(const int32_t* ids, int64_t tokens, int top_k, int experts, int32_t* expert_counts,
                         int32_t* expert_offsets, int32_t* permuted_token, int32_t* assignment_row,
                         cudaStream_t stream) {
  if (experts <= 0 || experts > kMaxExperts || top_k <= 0)
    throw Error("moe_group_by_expert: needs 1..1024 experts and top_k >= 1 (got " + std::to_string(experts) +
                " experts, top_k " + std::to_string(top_k) + ")");
  group_by_expert_kernel<<<1, kGroupThreads, 0, stream>>>(ids, tokens * top_k, top_k, experts, expert_counts,
                                                          expert_offsets, permuted_token, assignment_row);
  TIDE_CUDA_CHECK_LAUNCH();
}

void moe_combine(const bf16* expert_out, const int32_t* assignment_row, const float* weights, int64_t tokens,
                 int top_k, int64_t dim, const bf16* base, bf16* out, cudaStream_t stream) {
  if (tokens <= 0) return;
  const int threads = dim >= 1024 ? 1024 : static_cast<int>((dim + 31) / 32 * 32);
  combine_kernel<<<static_cast<unsigned>(tokens), threads, 0, stream>>>(expert_out, assignment_row, weights, dim,
                                                                        top_k, base, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
