// DeepSeek's MoE routers. One warp per token: expert e lives in lane e % 32, slot e / 32 (at most
// 8 slots, 256 experts), so scoring, group ranking and each of the top_k selection rounds are
// register work plus warp shuffles; only the group scores go through shared memory. Routing is
// a few hundred floats per token, so the point is one launch for the whole batch rather than
// bandwidth. Selection breaks ties by the lower expert index, as the CPU's top_indices does, and
// the arithmetic is the CPU's (expf, IEEE division, the same summation order for the chosen
// weights), so the chosen ids are identical.
#include <climits>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kSlots = 8;
constexpr int kWarps = 4;
constexpr unsigned kFull = 0xffffffffu;

// a beats b: larger value, or equal value and lower index.
__device__ __forceinline__ bool beats(float va, int ia, float vb, int ib) { return va > vb || (va == vb && ia < ib); }

__device__ __forceinline__ void warp_best(float& value, int& index) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_xor_sync(kFull, value, offset);
    const int i = __shfl_xor_sync(kFull, index, offset);
    if (beats(v, i, value, index)) value = v, index = i;
  }
}

// One token's routing by one warp: row is its [experts] logits, cs a warp-private shared array of
// kSlots * 32 floats; writes ids and weights [top_k] of the token.
__device__ void route_token(const float* row, const float* bias, const RouterParams& p, float* cs, int32_t* ids,
                            float* weights) {
  const int lane = threadIdx.x % 32;
  const int E = p.experts;

  float score[kSlots], choice[kSlots];
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
    const int e = s * 32 + lane;
    score[s] = e < E ? row[e] : -INFINITY;
  }
  if (p.scoring == RouterParams::Scoring::Sigmoid) {
#pragma unroll
    for (int s = 0; s < kSlots; ++s) score[s] = 1.f / (1.f + expf(-score[s]));
  } else {
    float max = -INFINITY;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) max = fmaxf(max, score[s]);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) max = fmaxf(max, __shfl_xor_sync(kFull, max, offset));
    float sum = 0.f;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int e = s * 32 + lane;
      score[s] = e < E ? expf(score[s] - max) : 0.f;
      sum += score[s];
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(kFull, sum, offset);
#pragma unroll
    for (int s = 0; s < kSlots; ++s) score[s] /= sum;
  }
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
    const int e = s * 32 + lane;
    choice[s] = score[s] + (bias && e < E ? bias[e] : 0.f);
  }

  if (p.grouped) {
#pragma unroll
    for (int s = 0; s < kSlots; ++s)
      if (s * 32 + lane < E) cs[s * 32 + lane] = choice[s];
    __syncwarp();
    // Lane g scores group g serially over its members.
    const int per_group = E / p.n_group;
    float group_score = -INFINITY;
    if (lane < p.n_group) {
      const float* m = cs + lane * per_group;
      if (p.group_score == RouterParams::GroupScore::TopTwoSum) {
        // The two best values (CPU: top_indices(members, min(2, per_group)), summed best first).
        float first = -INFINITY, second = -INFINITY;
        int first_i = INT_MAX;
        for (int i = 0; i < per_group; ++i)
          if (beats(m[i], i, first, first_i)) first = m[i], first_i = i;
        if (per_group >= 2) {
          int second_i = INT_MAX;
          for (int i = 0; i < per_group; ++i)
            if (i != first_i && beats(m[i], i, second, second_i)) second = m[i], second_i = i;
          group_score = first + second;
        } else {
          group_score = first;
        }
      } else {
        group_score = m[0];
        for (int i = 1; i < per_group; ++i) group_score = fmaxf(group_score, m[i]);
      }
    }
    // Keep the topk_group best groups (ties to the lower group index).
    unsigned kept = 0;
    bool taken = false;
    for (int r = 0; r < p.topk_group; ++r) {
      float v = lane < p.n_group && !taken ? group_score : -INFINITY;
      int i = lane < p.n_group && !taken ? lane : INT_MAX;
      warp_best(v, i);
      kept |= 1u << i;
      if (lane == i) taken = true;
    }
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int e = s * 32 + lane;
      if (e < E && !(kept >> (e / per_group) & 1u)) choice[s] = -INFINITY;
    }
  }

  // top_k rounds of a warp-wide best over the experts not chosen yet.
  unsigned chosen = 0;  // bit s: this lane's slot s is taken
  float my_weight = 0.f;  // lane r keeps the weight of round r
  int my_id = 0;
  float sum = 0.f;
  for (int r = 0; r < p.top_k; ++r) {
    float v = -INFINITY;
    int i = INT_MAX;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int e = s * 32 + lane;
      if (e < E && !(chosen >> s & 1u) && beats(choice[s], e, v, i)) v = choice[s], i = e;
    }
    warp_best(v, i);
    const int owner = i % 32, slot = i / 32;
    float w = 0.f;
#pragma unroll
    for (int s = 0; s < kSlots; ++s)
      if (s == slot) w = score[s];
    w = __shfl_sync(kFull, w, owner);
    if (lane == owner) chosen |= 1u << slot;
    sum += w;  // same order as the CPU: descending selection
    if (lane == r) my_weight = w, my_id = i;  // top_k <= 32: lane r keeps round r
  }
  if (lane < p.top_k) {
    float w = my_weight;
    if (p.normalize) w /= (sum + 1e-20f);
    if (p.scale) w *= p.routed_scaling_factor;
    ids[lane] = my_id;
    weights[lane] = w;
  }
}

__global__ void route_kernel(const float* logits, int64_t tokens, const float* bias, RouterParams p, int32_t* ids,
                             float* weights) {
  begin_dependent_kernel();
  __shared__ float choice_s[kWarps][kSlots * 32];
  const int warp = threadIdx.x / 32;
  const int64_t token = blockIdx.x * static_cast<int64_t>(kWarps) + warp;
  if (token >= tokens) return;  // whole warps leave; no block-wide barrier below
  route_token(logits + token * p.experts, bias, p, choice_s[warp], ids + token * p.top_k, weights + token * p.top_k);
}

// The router's logits of one or two tokens (gemv_block over kGemvFeatures experts a block), then
// the last block to finish routes every token: one launch where gemv_nt and route_kernel take
// two. Each block publishes its logits before counting itself done (the fence), and the last one
// resets the counter for the next launch.
template <int kRows, bool kNormed>
__global__ void __launch_bounds__(kGemvThreads) gemv_route_kernel(GemvInput h, const bf16* router, int64_t hidden,
                                                                  const float* bias, RouterParams p, float* logits,
                                                                  unsigned* done, int32_t* ids, float* weights) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kGemvFeatures;
  gemv_prefetch(router, p.experts, hidden, first);
  const GemvFirstChunk chunk = gemv_first_chunk(h, router, p.experts, hidden, first);
  begin_dependent_kernel();
  gemv_block<kRows, kNormed>(h, router, p.experts, hidden, first, chunk, logits);
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(done, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();  // the other blocks' logits are visible from here on
  __shared__ float choice_s[kRows][kSlots * 32];
  const int warp = threadIdx.x / 32;
  if (warp < kRows)
    route_token(logits + warp * p.experts, bias, p, choice_s[warp], ids + warp * p.top_k, weights + warp * p.top_k);
  if (threadIdx.x == 0) *done = 0;
}

void check_router(const RouterParams& p) {
  if (p.experts < 1 || p.experts > kSlots * 32) throw Error("route_experts: experts must be in [1, 256]");
  if (p.top_k < 1 || p.top_k > p.experts || p.top_k > 32) throw Error("route_experts: top_k must be in [1, min(experts, 32)]");
  if (p.grouped && (p.n_group < 1 || p.n_group > 32 || p.experts % p.n_group != 0 || p.topk_group < 1 ||
                    p.topk_group > p.n_group))
    throw Error("route_experts: groups must divide the experts, n_group <= 32, 1 <= topk_group <= n_group");
}

}  // namespace

void route_experts(const float* logits, int64_t tokens, const float* bias, const RouterParams& p, int32_t* ids,
                   float* weights, cudaStream_t stream) {
  if (tokens <= 0) return;
  check_router(p);
  const unsigned blocks = static_cast<unsigned>((tokens + kWarps - 1) / kWarps);
  launch_dependent(route_kernel, blocks, kWarps * 32, 0, stream, logits, tokens, bias, p, ids, weights);
  TIDE_CUDA_CHECK_LAUNCH();
}

namespace {

template <int kRows>
void launch_gemv_route(const GemvInput& h, const bf16* router, int64_t hidden, const float* bias, const RouterParams& p,
                       float* logits, unsigned* done, int32_t* ids, float* weights, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((p.experts + kGemvFeatures - 1) / kGemvFeatures);
  if (h.norm_weight)
    launch_dependent(gemv_route_kernel<kRows, true>, blocks, kGemvThreads, 0, stream, h, router, hidden, bias, p,
                     logits, done, ids, weights);
  else
    launch_dependent(gemv_route_kernel<kRows, false>, blocks, kGemvThreads, 0, stream, h, router, hidden, bias, p,
                     logits, done, ids, weights);
}

}  // namespace

void route_experts_gemv(const GemvInput& h, int64_t tokens, const bf16* router, int64_t hidden, const float* bias,
                        const RouterParams& p, float* logits, unsigned* done, int32_t* ids, float* weights,
                        cudaStream_t stream) {
  if (tokens <= 0) return;
  check_router(p);
  const uintptr_t addresses = reinterpret_cast<uintptr_t>(h.x) | reinterpret_cast<uintptr_t>(h.delta) |
                              reinterpret_cast<uintptr_t>(h.norm_weight) | reinterpret_cast<uintptr_t>(router);
  if (tokens > kGemvMaxRows || hidden <= 0 || hidden % 8 != 0 || addresses % 16 != 0)
    throw Error("route_experts_gemv: needs 1.." + std::to_string(kGemvMaxRows) +
                " tokens, hidden a positive multiple of 8 and 16-byte aligned rows (got " + std::to_string(tokens) +
                " tokens, hidden " + std::to_string(hidden) + ")");
  static_assert(kGemvMaxRows == 2, "route_experts_gemv instantiates one and two rows");
  if (tokens == 1) launch_gemv_route<1>(h, router, hidden, bias, p, logits, done, ids, weights, stream);
  else launch_gemv_route<2>(h, router, hidden, bias, p, logits, done, ids, weights, stream);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
