// Grouped-query prefill (Llama, Qwen2): one sequence's new rows attend causally over its whole
// context, read straight from the paged cache, through the causal flash block of
// flash_prefill.cuh. A cache entry is [k of every kv head | v of every kv head]; query head h
// reads kv head h / (heads / kv_heads). The blocks of one group's heads read the same keys and
// values, which the first of them brings into L2.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/flash_prefill.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kHeadDim = kGqaHeadDim;

struct GqaOperands {
  static constexpr int kQk = kHeadDim, kV = kHeadDim;
  GqaPrefillArgs a;
  int rows = a.rows, context = a.context;
  float scale = a.scale;

  __device__ uint32_t query_pair(int row, int head, int dim) const {
    return *reinterpret_cast<const uint32_t*>(a.q + (static_cast<int64_t>(row) * a.heads + head) * kHeadDim + dim);
  }
  __device__ const bf16* entry(int64_t p) const {
    const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
    return a.cache + slot * (2 * a.kv_heads * kHeadDim);
  }
  __device__ int group(int head) const { return head / (a.heads / a.kv_heads); }
  __device__ const bf16* key_chunk(int head, int64_t p, int chunk) const {
    return entry(p) + group(head) * kHeadDim + chunk * 8;
  }
  __device__ const bf16* value_chunk(int head, int64_t p, int chunk) const {
    return entry(p) + (a.kv_heads + group(head)) * kHeadDim + chunk * 8;
  }
  __device__ bf16* out(int row, int head) const {
    return a.out + (static_cast<int64_t>(row) * a.heads + head) * kHeadDim;
  }
};

__global__ void __launch_bounds__(flash_prefill::kThreads) gqa_prefill_kernel(GqaOperands a) {
  begin_dependent_kernel();
  extern __shared__ unsigned char shared_raw[];
  flash_prefill::attend_block(a, shared_raw);
}

}  // namespace

void gqa_prefill(const GqaPrefillArgs& a, cudaStream_t stream) {
  if (a.rows <= 0) return;
  if (a.rows > a.context || a.heads < 1 || a.kv_heads < 1 || a.heads % a.kv_heads != 0 || a.block_size < 1 ||
      a.heads > 65535)
    throw Error("gqa_prefill: needs rows <= context, heads a multiple of kv_heads and a positive block size (got " +
                std::to_string(a.rows) + " rows in a context of " + std::to_string(a.context) + ", " +
                std::to_string(a.heads) + " heads over " + std::to_string(a.kv_heads) + ")");
  flash_prefill::launch(gqa_prefill_kernel, GqaOperands{a}, a.heads, stream);
}

}  // namespace tide::cuda
