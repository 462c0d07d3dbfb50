// MLA's cache write in one pass per token: kv_a_layernorm over the latent part of the kv_a
// projection, rope over its key part, both stored straight into the token's cache slot. The
// three steps it replaces (rms_norm_strided, apply_rope, scatter_rows) each launched per layer;
// the arithmetic is theirs: fp32 on the stored bf16 values, each result rounded to bf16 once.
// With a query, the token's query heads are rotated in the same launch (rope.cuh), by blocks of
// their own: one launch for what apply_rope and this would launch apart.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda/rope.cuh"

namespace tide::cuda {
namespace {

constexpr int kThreads = 128;

// grid (tokens, 1 + query blocks): block y = 0 writes the token's cache entry; the others rotate
// a share of its query's pairs each, a pair a thread, so that no thread waits on one load after
// another (a single block took a few microseconds a token, most of a decode step's budget for it).
__global__ void write_latent_cache_kernel(LatentCacheWrite a) {
  begin_dependent_kernel();
  const int64_t token = blockIdx.x;
  if (blockIdx.y > 0) {
    rope_token(a.query, token, (blockIdx.y - 1) * kThreads + threadIdx.x, (gridDim.y - 1) * kThreads);
    return;
  }
  const bf16* src = a.kv + token * a.kv_stride;
  bf16* dst = a.cache + static_cast<int64_t>(a.slots[token]) * (a.latent_dim + a.rope_dim);
  float sum = 0.f;
  for (int i = threadIdx.x; i < a.latent_dim; i += kThreads) {
    const float v = __bfloat162float(src[i]);
    sum += v * v;
  }
  const float inv = 1.f / sqrtf(block_sum(sum) / static_cast<float>(a.latent_dim) + a.eps);
  for (int i = threadIdx.x; i < a.latent_dim; i += kThreads)
    dst[i] = __float2bfloat16(__bfloat162float(src[i]) * inv * __bfloat162float(a.norm_weight[i]));

  const int half = a.rope_dim / 2;
  const int pos = a.positions[token];
  const float* cos = a.cos + static_cast<int64_t>(pos) * half;
  const float* sin = a.sin + static_cast<int64_t>(pos) * half;
  const bf16* key = src + a.latent_dim;
  bf16* out = dst + a.latent_dim;
  for (int i = threadIdx.x; i < half; i += kThreads) {
    const int ia = a.interleaved ? 2 * i : i, ib = a.interleaved ? 2 * i + 1 : i + half;
    const float x0 = __bfloat162float(key[ia]), x1 = __bfloat162float(key[ib]);
    out[ia] = __float2bfloat16(x0 * cos[i] - x1 * sin[i]);
    out[ib] = __float2bfloat16(x1 * cos[i] + x0 * sin[i]);
  }
}

}  // namespace

void write_latent_cache(const LatentCacheWrite& a, cudaStream_t stream) {
  if (a.tokens <= 0) return;
  if (a.latent_dim <= 0 || a.rope_dim < 2 || a.rope_dim % 2 != 0)
    throw Error("write_latent_cache: needs a positive latent width and an even rope width (got " +
                std::to_string(a.latent_dim) + ", " + std::to_string(a.rope_dim) + ")");
  if (a.query.heads > 0 && (a.query.tokens != a.tokens || a.query.rope_dim < 2 || a.query.rope_dim % 2 != 0))
    throw Error("write_latent_cache: the query's rope needs the cache write's tokens and an even rope width");
  const int query_pairs = a.query.heads > 0 ? a.query.heads * (a.query.rope_dim / 2) : 0;
  const unsigned query_blocks = static_cast<unsigned>((query_pairs + kThreads - 1) / kThreads);
  launch_dependent(write_latent_cache_kernel, dim3(static_cast<unsigned>(a.tokens), 1 + query_blocks), kThreads, 0,
                   stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
