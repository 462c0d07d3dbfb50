// The general form of MLA's absorbed attention: any entry and value width, one query row per
// token (decode rows and prefill rows alike; a prefill token's row sees the positions up to its
// own). One block of 128 threads per (row, head) walks the context in chunks of 128 keys with an
// online softmax: each thread scores one key of the chunk, then each thread accumulates its own
// value dimensions over the chunk's keys. It is the correct fallback for shapes the specialised
// kernels (mla_decode and mla_prefill, DeepSeek's 512 + 64 widths) do not take; it reads each
// latent once per head, so it is not the fast path for real DeepSeek widths. With kv_heads > 1 it
// is grouped-query attention over a [keys | values] entry (Llama, Qwen2), each block reading its
// head's group; the first correct form for those models on the GPU, not their fast one.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxValueDimsPerThread = 8;  // value_dim <= 1024

__global__ void latent_attention_kernel(LatentAttentionArgs a) {
  begin_dependent_kernel();
  extern __shared__ float shared[];
  const int key_dim = a.key_dim > 0 ? a.key_dim : a.entry_dim;
  float* q = shared;                                                  // [key_dim]
  float* p = shared + key_dim;                                        // [kThreads] probabilities
  int64_t* key_offset = reinterpret_cast<int64_t*>(p + kThreads);     // [kThreads] entry offsets
  const int head = blockIdx.x, row = blockIdx.y;
  const int group = head / (a.heads / a.kv_heads);
  const int key_at = group * key_dim, value_at = a.value_offset + group * a.value_dim;

  const bf16* q_row = a.q + (static_cast<int64_t>(row) * a.heads + head) * key_dim;
  for (int i = threadIdx.x; i < key_dim; i += kThreads) q[i] = __bfloat162float(q_row[i]);
  __syncthreads();

  const int context = a.context_lens[row];
  const int32_t* table = a.block_tables + static_cast<int64_t>(row) * a.block_table_stride;
  float running_max = -INFINITY, denominator = 0.f;
  float acc[kMaxValueDimsPerThread] = {};
  for (int base = 0; base < context; base += kThreads) {
    const int j = base + threadIdx.x;
    float score = -INFINITY;
    int64_t offset = 0;
    if (j < context) {
      offset = (static_cast<int64_t>(table[j / a.block_size]) * a.block_size + j % a.block_size) * a.entry_dim;
      const bf16* key = a.cache + offset + key_at;
      float dot = 0.f;
      for (int d = 0; d < key_dim; ++d) dot += q[d] * __bfloat162float(key[d]);
      score = dot * a.scale;
    }
    // The chunk holds at least one key, so the new maximum is finite.
    const float new_max = fmaxf(running_max, block_max(score));
    const float prob = j < context ? expf(score - new_max) : 0.f;
    const float correction = expf(running_max - new_max);
    denominator = denominator * correction + block_sum(prob);
    running_max = new_max;
    __syncthreads();  // the previous chunk's p and key_offset are no longer read
    p[threadIdx.x] = prob;
    key_offset[threadIdx.x] = offset;
    __syncthreads();
    const int keys = min(kThreads, context - base);
#pragma unroll
    for (int k = 0; k < kMaxValueDimsPerThread; ++k) {
      const int d = threadIdx.x + k * kThreads;
      if (d >= a.value_dim) break;
      float sum = acc[k] * correction;
      for (int jj = 0; jj < keys; ++jj) sum += p[jj] * __bfloat162float(a.cache[key_offset[jj] + value_at + d]);
      acc[k] = sum;
    }
  }
  bf16* out = a.out + (static_cast<int64_t>(row) * a.heads + head) * a.value_dim;
#pragma unroll
  for (int k = 0; k < kMaxValueDimsPerThread; ++k) {
    const int d = threadIdx.x + k * kThreads;
    if (d >= a.value_dim) break;
    out[d] = __float2bfloat16(acc[k] / denominator);
  }
}

}  // namespace

void latent_attention(const LatentAttentionArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.heads <= 0) return;
  const int key_dim = a.key_dim > 0 ? a.key_dim : a.entry_dim;
  if (a.entry_dim <= 0 || a.value_dim <= 0 || a.value_dim > kThreads * kMaxValueDimsPerThread || a.block_size <= 0 ||
      a.rows > 65535 || a.kv_heads < 1 || a.heads % a.kv_heads != 0 || a.value_offset < 0 ||
      int64_t{a.kv_heads} * key_dim > a.entry_dim || a.value_offset + int64_t{a.kv_heads} * a.value_dim > a.entry_dim)
    throw Error("latent_attention: needs heads a multiple of kv_heads, every group's key and value within the entry, "
                "value_dim <= " + std::to_string(kThreads * kMaxValueDimsPerThread) +
                ", a positive block size and at most 65535 rows (got entry " + std::to_string(a.entry_dim) + ", key " +
                std::to_string(key_dim) + ", value " + std::to_string(a.value_dim) + " at " +
                std::to_string(a.value_offset) + ", " + std::to_string(a.kv_heads) + " kv heads)");
  const std::size_t shared = (key_dim + kThreads) * sizeof(float) + kThreads * sizeof(int64_t);
  launch_dependent(latent_attention_kernel, dim3(a.heads, a.rows), kThreads, shared, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
