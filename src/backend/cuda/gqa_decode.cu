// Grouped-query decode attention (Llama, Qwen2): each row (a decode token, or a row of a short
// prefill chunk) attends over its sequence's context in the paged cache, every query head of a
// kv head's group at once, so that the group's keys and values are read once for all of them
// (latent_attention's grouped form reads them once per head).
//
// Split over the context (flash-decoding): grid (splits, kv heads, rows), a block of 128 threads
// taking one chunk of the row's context for one kv head, in sub-chunks of 64 positions with an
// online softmax. A batch of few rows splits its contexts many ways; one that fills the GPU with
// (row, kv head) blocks alone does not split (plan_for):
//   - scores: 8 lanes a key (16 dims each, two 16-byte loads), four keys a warp at a time; the
//     group's queries (pre-scaled) sit in shared memory as fp32;
//   - softmax: a warp per query head over the sub-chunk's 64 scores;
//   - P·V: a thread per value dim, every head of the group accumulated per value read.
// Each block leaves its chunk's (max, sum, unnormalised output) per head in the workspace; the
// last block of a (row, kv head) to finish merges them (a counter per (row, kv head), reset by
// that block), so a step is one launch. The merge reads the partial states from L2: its SM's L1
// may hold an earlier launch's lines of the same workspace.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kHeadDim = kGqaHeadDim;
constexpr int kThreads = 128;  // one per value dim in P·V
constexpr int kWarps = kThreads / 32;
constexpr int kSubChunk = 64;  // positions scored, then attended, at a time
constexpr int kLanesPerKey = 8;
constexpr int kKeysPerPass = kThreads / kLanesPerKey;  // 16
constexpr int kMaxSplits = 64;
static_assert(kHeadDim == kThreads && kSubChunk % kKeysPerPass == 0);

struct Plan {
  int splits;
  int chunk;  // positions a block takes, a multiple of kSubChunk
};

// Splits enough for some kTargetBlocks blocks in all. A block's chunk is latency-bound (a few
// sub-chunks one after another), so decode batches up to 64 rows of 4 kv heads keep splitting
// their contexts (an H100 ran R1-Distill-Qwen-7B's batch 64 at 45% of its roofline with 32 splits
// and at 26% with 2); a step of thousands of (row, kv head) pairs takes one chunk each, so that
// the workspace (rows × kv heads × splits partial states) stays within tens of MB.
constexpr int64_t kTargetBlocks = 8192;

Plan plan_for(const GqaDecodeArgs& a) {
  const int sub_chunks = (a.max_context + kSubChunk - 1) / kSubChunk;
  const int64_t pairs = static_cast<int64_t>(a.rows) * a.kv_heads;
  const int64_t wanted = (kTargetBlocks + pairs - 1) / pairs;
  const int splits = static_cast<int>(std::min<int64_t>({wanted, kMaxSplits, sub_chunks}));
  return {splits, (sub_chunks + splits - 1) / splits * kSubChunk};
}

// Per (row, kv head, split, head of the group): max and sum of the chunk's scores, then its
// unnormalised output; the state of head g of split s at ((slot + s) · group_size + g).
constexpr int64_t kPartialFloats = 2 + kHeadDim;

__global__ void __launch_bounds__(kThreads) gqa_decode_kernel(GqaDecodeArgs a, Plan plan, float* partials) {
  begin_dependent_kernel();
  const int group_size = a.heads / a.kv_heads;
  const int split = blockIdx.x, kv_head = blockIdx.y, row = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, d = threadIdx.x;
  __shared__ float q[kMaxGqaGroup][kHeadDim];
  __shared__ float scores[kMaxGqaGroup][kSubChunk];
  __shared__ int64_t entry_offset[kSubChunk];
  __shared__ float rescale[kMaxGqaGroup];
  __shared__ bool last;

  for (int i = threadIdx.x; i < group_size * kHeadDim; i += kThreads) {
    const int g = i / kHeadDim;
    const bf16* q_row = a.q + (static_cast<int64_t>(row) * a.heads + kv_head * group_size + g) * kHeadDim;
    q[g][i % kHeadDim] = __bfloat162float(q_row[i % kHeadDim]) * a.scale;
  }
  const int context = a.context_lens[row];
  const int32_t* table = a.block_tables + static_cast<int64_t>(row) * a.block_table_stride;
  const int64_t entry_dim = 2 * int64_t{a.kv_heads} * kHeadDim;
  const int begin = split * plan.chunk, end = min(context, begin + plan.chunk);

  // Each warp keeps the running max and sum of the heads it softmaxes (g = warp, warp + 4, ...);
  // each thread the outputs of its value dim for every head.
  float running_max[kMaxGqaGroup / kWarps], running_sum[kMaxGqaGroup / kWarps];
#pragma unroll
  for (int i = 0; i < kMaxGqaGroup / kWarps; ++i) running_max[i] = -INFINITY, running_sum[i] = 0.f;
  float out[kMaxGqaGroup] = {};
  __syncthreads();

  for (int base = begin; base < end; base += kSubChunk) {
    const int keys = min(kSubChunk, end - base);
    // Scores: key k of the sub-chunk is scored by the 8 lanes (k % 4) · 8.. of warp (k / 4) % 4.
    const int sub = lane % kLanesPerKey;
#pragma unroll
    for (int pass = 0; pass < kSubChunk / kKeysPerPass; ++pass) {
      const int k = pass * kKeysPerPass + threadIdx.x / kLanesPerKey;
      int64_t offset = 0;
      if (k < keys) {
        const int p = base + k;
        offset = (static_cast<int64_t>(table[p / a.block_size]) * a.block_size + p % a.block_size) * entry_dim;
      }
      if (sub == 0) entry_offset[k] = offset;
      float dot[kMaxGqaGroup] = {};
      if (k < keys) {
        const uint4* key = reinterpret_cast<const uint4*>(a.cache + offset + kv_head * kHeadDim + sub * 16);
        const uint4 chunks[2] = {key[0], key[1]};
        const __nv_bfloat162* k2 = reinterpret_cast<const __nv_bfloat162*>(chunks);
#pragma unroll
        for (int g = 0; g < kMaxGqaGroup; ++g) {
          if (g >= group_size) break;
          const float* qg = q[g] + sub * 16;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const float2 kf = __bfloat1622float2(k2[j]);
            dot[g] += qg[2 * j] * kf.x + qg[2 * j + 1] * kf.y;
          }
        }
      }
#pragma unroll
      for (int g = 0; g < kMaxGqaGroup; ++g) {
        if (g >= group_size) break;
        float v = dot[g];
        v += __shfl_xor_sync(0xffffffffu, v, 1);
        v += __shfl_xor_sync(0xffffffffu, v, 2);
        v += __shfl_xor_sync(0xffffffffu, v, 4);
        if (sub == 0) scores[g][k] = k < keys ? v : -INFINITY;
      }
    }
    __syncthreads();
    // Softmax of the sub-chunk, a warp per head: probabilities in place, the rescale of what came
    // before for the P·V threads.
#pragma unroll
    for (int i = 0; i < kMaxGqaGroup / kWarps; ++i) {
      const int g = warp + i * kWarps;
      if (g >= group_size) break;
      const float s0 = scores[g][lane], s1 = scores[g][lane + 32];
      const float next = fmaxf(running_max[i], warp_max(fmaxf(s0, s1)));  // finite: the sub-chunk has a key
      const float p0 = __expf(s0 - next), p1 = __expf(s1 - next);
      const float correction = __expf(running_max[i] - next);
      running_sum[i] = running_sum[i] * correction + warp_sum(p0 + p1);
      running_max[i] = next;
      scores[g][lane] = p0;
      scores[g][lane + 32] = p1;
      if (lane == 0) rescale[g] = correction;
    }
    __syncthreads();
    // P·V: this thread's value dim over the sub-chunk's keys, for every head of the group.
    const bf16* values = a.cache + (a.kv_heads + kv_head) * kHeadDim + d;
#pragma unroll
    for (int g = 0; g < kMaxGqaGroup; ++g)
      if (g < group_size) out[g] *= rescale[g];
#pragma unroll 8
    for (int k = 0; k < keys; ++k) {
      const float v = __bfloat162float(values[entry_offset[k]]);
#pragma unroll
      for (int g = 0; g < kMaxGqaGroup; ++g)
        if (g < group_size) out[g] += scores[g][k] * v;
    }
    __syncthreads();  // the next sub-chunk overwrites scores and offsets
  }

  // The chunk's partial state (an empty chunk, past the row's context, leaves none: the merge
  // reads only the chunks that hold positions).
  const int64_t slot = (static_cast<int64_t>(row) * a.kv_heads + kv_head) * plan.splits;
  if (begin < end) {
#pragma unroll
    for (int i = 0; i < kMaxGqaGroup / kWarps; ++i) {
      const int g = warp + i * kWarps;
      if (g < group_size && lane == 0) {
        float* state = partials + ((slot + split) * group_size + g) * kPartialFloats;
        state[0] = running_max[i];
        state[1] = running_sum[i];
      }
    }
#pragma unroll
    for (int g = 0; g < kMaxGqaGroup; ++g)
      if (g < group_size) partials[((slot + split) * group_size + g) * kPartialFloats + 2 + d] = out[g];
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.counters + row * a.kv_heads + kv_head, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();  // the other blocks' partial states are visible from here on
  // The chunks' maxima and sums, then per head (a warp each) their weights e^(m_s − M) scaled by
  // the total, then each value dim's weighted sum: every load of a step independent of the others.
  // (A context past max_context, which the caller must not give, is cut at the last chunk.)
  const int active = min((context + plan.chunk - 1) / plan.chunk, plan.splits);
  __shared__ float chunk_max[kMaxGqaGroup][kMaxSplits], chunk_sum[kMaxGqaGroup][kMaxSplits];
  for (int i = threadIdx.x; i < group_size * active; i += kThreads) {
    const int g = i / active, s = i % active;
    const float* state = partials + ((slot + s) * group_size + g) * kPartialFloats;
    chunk_max[g][s] = __ldcg(state);
    chunk_sum[g][s] = __ldcg(state + 1);
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kMaxGqaGroup / kWarps; ++i) {
    const int g = warp + i * kWarps;
    if (g >= group_size) break;
    float m = -INFINITY;
    for (int s = lane; s < active; s += 32) m = fmaxf(m, chunk_max[g][s]);
    m = warp_max(m);
    float total = 0.f;
    for (int s = lane; s < active; s += 32) {
      const float w = __expf(chunk_max[g][s] - m);
      chunk_max[g][s] = w;  // now the chunk's weight
      total += w * chunk_sum[g][s];
    }
    total = warp_sum(total);
    for (int s = lane; s < active; s += 32) chunk_max[g][s] /= total;
  }
  __syncthreads();
  for (int g = 0; g < group_size; ++g) {
    float o = 0.f;
#pragma unroll 8
    for (int s = 0; s < active; ++s)
      o += chunk_max[g][s] * __ldcg(partials + ((slot + s) * group_size + g) * kPartialFloats + 2 + d);
    a.out[(static_cast<int64_t>(row) * a.heads + kv_head * group_size + g) * kHeadDim + d] = __float2bfloat16(o);
  }
  if (threadIdx.x == 0) a.counters[row * a.kv_heads + kv_head] = 0;
}

void check(const GqaDecodeArgs& a) {
  if (a.heads < 1 || a.kv_heads < 1 || a.heads % a.kv_heads != 0 || a.heads / a.kv_heads > kMaxGqaGroup ||
      a.block_size < 1 || a.max_context < 1 || a.rows > 65535 || a.kv_heads > 65535)
    throw Error("gqa_decode: needs heads a multiple of kv_heads with at most " + std::to_string(kMaxGqaGroup) +
                " heads a group, a positive block size and context, and at most 65535 rows (got " +
                std::to_string(a.heads) + " heads over " + std::to_string(a.kv_heads) + ", block size " +
                std::to_string(a.block_size) + ", max context " + std::to_string(a.max_context) + ", " +
                std::to_string(a.rows) + " rows)");
}

}  // namespace

std::size_t gqa_decode_workspace_bytes(const GqaDecodeArgs& a) {
  check(a);
  const Plan plan = plan_for(a);
  return static_cast<std::size_t>(a.rows) * a.heads * plan.splits * kPartialFloats * sizeof(float);
}

void gqa_decode(const GqaDecodeArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
  if (a.rows <= 0) return;
  if (workspace_bytes < gqa_decode_workspace_bytes(a))
    throw Error("gqa_decode: the workspace holds " + std::to_string(workspace_bytes) + " bytes; it needs " +
                std::to_string(gqa_decode_workspace_bytes(a)));
  if (!a.counters) throw Error("gqa_decode: counters are required (rows × kv_heads, zeroed once)");
  const Plan plan = plan_for(a);
  launch_dependent(gqa_decode_kernel, dim3(plan.splits, a.kv_heads, a.rows), dim3(kThreads), 0, stream, a, plan,
                   static_cast<float*>(workspace));
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
