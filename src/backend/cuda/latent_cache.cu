// MLA's cache write in one pass per token: kv_a_layernorm over the latent part of the kv_a
// projection, rope over its key part, both stored straight into the token's cache slot. The
// three steps it replaces (rms_norm_strided, apply_rope, scatter_rows) each launched per layer;
// the arithmetic is theirs: fp32 on the stored bf16 values, each result rounded to bf16 once.
// With a query, the token's query heads are rotated in the same launch (rope.cuh), by blocks of
// their own: one launch for what apply_rope and this would launch apart. At decode sizes MLA's
// absorption can run in the same launch too (write_latent_cache_and_absorb): it needs only the
// projection that the cache write reads, so a launch fewer lies between it and the attention.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/gemv_batched.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda/rope.cuh"

namespace tide::cuda {
namespace {

constexpr int kThreads = 128;

// Part `part` of token `token`'s work, of `parts` (1 + the query's blocks): part 0 writes the
// token's cache entry; each other part rotates a share of its query's pairs, a pair a thread, so
// that no thread waits on one load after another (a single block took a few microseconds a token,
// most of a decode step's budget for it). Any block size of at least kThreads, a multiple of 32.
__device__ void latent_cache_block(const LatentCacheWrite& a, int64_t token, int part, int parts) {
  const int threads = blockDim.x;
  if (part > 0) {
    rope_token(a.query, token, (part - 1) * threads + threadIdx.x, (parts - 1) * threads);
    return;
  }
  const bf16* src = a.kv + token * a.kv_stride;
  bf16* dst = a.cache + static_cast<int64_t>(a.slots[token]) * (a.latent_dim + a.rope_dim);
  // The sum of squares in the same order at any block size (threads past kThreads add zeros), so
  // that the cache entry is bit for bit that of write_latent_cache alone.
  float sum = 0.f;
  if (threadIdx.x < kThreads)
    for (int i = threadIdx.x; i < a.latent_dim; i += kThreads) {
      const float v = __bfloat162float(src[i]);
      sum += v * v;
    }
  const float inv = 1.f / sqrtf(block_sum(sum) / static_cast<float>(a.latent_dim) + a.eps);
  for (int i = threadIdx.x; i < a.latent_dim; i += threads)
    dst[i] = __float2bfloat16(__bfloat162float(src[i]) * inv * __bfloat162float(a.norm_weight[i]));

  const int half = a.rope_dim / 2;
  const int pos = a.positions[token];
  const float* cos = a.cos + static_cast<int64_t>(pos) * half;
  const float* sin = a.sin + static_cast<int64_t>(pos) * half;
  const bf16* key = src + a.latent_dim;
  bf16* out = dst + a.latent_dim;
  for (int i = threadIdx.x; i < half; i += threads) {
    const int ia = a.interleaved ? 2 * i : i, ib = a.interleaved ? 2 * i + 1 : i + half;
    const float x0 = __bfloat162float(key[ia]), x1 = __bfloat162float(key[ib]);
    out[ia] = __float2bfloat16(x0 * cos[i] - x1 * sin[i]);
    out[ib] = __float2bfloat16(x1 * cos[i] + x0 * sin[i]);
  }
}

// grid (tokens, 1 + query blocks).
__global__ void write_latent_cache_kernel(LatentCacheWrite a) {
  begin_dependent_kernel();
  latent_cache_block(a, blockIdx.x, blockIdx.y, gridDim.y);
}

// The query blocks a token needs at `threads` threads a block.
unsigned query_blocks(const LatentCacheWrite& a, int threads) {
  const int query_pairs = a.query.heads > 0 ? a.query.heads * (a.query.rope_dim / 2) : 0;
  return static_cast<unsigned>((query_pairs + threads - 1) / threads);
}

// write_latent_cache_and_absorb: the absorption's blocks first (grid.x of its plain form, times
// its heads), then each token's 1 + query blocks. The absorption's weights are asked of L2 before
// the wait; everything else follows it.
static_assert(kBatchedThreads >= kThreads && kBatchedThreads % 32 == 0, "latent_cache_block's block size");
template <int kRows>
__global__ void __launch_bounds__(kBatchedThreads) write_latent_cache_and_absorb_kernel(LatentCacheWrite a,
                                                                                        BatchedGemm g,
                                                                                        unsigned absorb_x,
                                                                                        unsigned token_parts) {
  const unsigned absorb_blocks = absorb_x * static_cast<unsigned>(g.batch);
  if (blockIdx.x < absorb_blocks) {
    const int64_t block_x = blockIdx.x % absorb_x, b = blockIdx.x / absorb_x;
    // Row threadIdx.x of the block's [in, 64] slice of W_b: one 128-byte line each.
    if (threadIdx.x < g.in)
      prefetch_l2(g.w + b * g.w_batch_stride + threadIdx.x * g.w_ld + block_x * kBatchedPlainFeatures,
                  kBatchedPlainFeatures * sizeof(bf16));
    begin_dependent_kernel();
    batched_plain_block<kRows, false>(g, block_x, b);
    return;
  }
  begin_dependent_kernel();
  const unsigned j = blockIdx.x - absorb_blocks;
  latent_cache_block(a, j / token_parts, static_cast<int>(j % token_parts), static_cast<int>(token_parts));
}

void check_latent_cache_write(const LatentCacheWrite& a) {
  if (a.latent_dim <= 0 || a.rope_dim < 2 || a.rope_dim % 2 != 0)
    throw Error("write_latent_cache: needs a positive latent width and an even rope width (got " +
                std::to_string(a.latent_dim) + ", " + std::to_string(a.rope_dim) + ")");
  if (a.query.heads > 0 && (a.query.tokens != a.tokens || a.query.rope_dim < 2 || a.query.rope_dim % 2 != 0))
    throw Error("write_latent_cache: the query's rope needs the cache write's tokens and an even rope width");
}

}  // namespace

void write_latent_cache(const LatentCacheWrite& a, cudaStream_t stream) {
  if (a.tokens <= 0) return;
  check_latent_cache_write(a);
  launch_dependent(write_latent_cache_kernel, dim3(static_cast<unsigned>(a.tokens), 1 + query_blocks(a, kThreads)),
                   kThreads, 0, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

void write_latent_cache_and_absorb(const LatentCacheWrite& a, const BatchedGemm& g, cudaStream_t stream) {
  if (a.tokens <= 0) return;
  check_latent_cache_write(a);
  if (g.w_transposed || g.x_ready_early || g.n != a.tokens || !gemv_batched_supported(g))
    throw Error("write_latent_cache_and_absorb: needs the plain form at decode sizes (W not transposed, 1.." +
                std::to_string(kGemvMaxRows) + " rows, the cache write's tokens, 16-byte aligned rows); got n " +
                std::to_string(g.n) + " for " + std::to_string(a.tokens) + " tokens");
  const unsigned absorb_x = static_cast<unsigned>((g.out + kBatchedPlainFeatures - 1) / kBatchedPlainFeatures);
  const unsigned token_parts = 1 + query_blocks(a, kBatchedThreads);
  const unsigned blocks = absorb_x * static_cast<unsigned>(g.batch) + static_cast<unsigned>(a.tokens) * token_parts;
  static_assert(kGemvMaxRows == 2, "write_latent_cache_and_absorb instantiates one and two rows");
  if (g.n == 1)
    launch_dependent(write_latent_cache_and_absorb_kernel<1>, blocks, kBatchedThreads, 0, stream, a, g, absorb_x,
                     token_parts);
  else
    launch_dependent(write_latent_cache_and_absorb_kernel<2>, blocks, kBatchedThreads, 0, stream, a, g, absorb_x,
                     token_parts);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
