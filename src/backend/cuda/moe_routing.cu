// DeepSeek's MoE routers. One warp per token: expert e lives in lane e % 32, slot e / 32 (at most
// 8 slots, 256 experts), so scoring, group ranking and each of the top_k selection rounds are
// register work plus warp shuffles; only the group scores go through shared memory. Routing is
// a few hundred floats per token, so the point is one launch for the whole batch rather than
// bandwidth. Selection breaks ties by the lower expert index, as the CPU's top_indices does, and
// the arithmetic is the CPU's (expf, IEEE division, the same summation order for the chosen
// weights), so the chosen ids are identical.
#include <climits>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
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

__global__ void route_kernel(const float* logits, int64_t tokens, const float* bias, RouterParams p, int32_t* ids,
                             float* weights) {
  begin_dependent_kernel();
  __shared__ float choice_s[kWarps][kSlots * 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t token = blockIdx.x * static_cast<int64_t>(kWarps) + warp;
  if (token >= tokens) return;  // whole warps leave; no block-wide barrier below
  const float* row = logits + token * p.experts;
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
    float* cs = choice_s[warp];
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
    ids[token * p.top_k + lane] = my_id;
    weights[token * p.top_k + lane] = w;
  }
}

}  // namespace

void route_experts(const float* logits, int64_t tokens, const float* bias, const RouterParams& p, int32_t* ids,
                   float* weights, cudaStream_t stream) {
  if (tokens <= 0) return;
  if (p.experts < 1 || p.experts > kSlots * 32) throw Error("route_experts: experts must be in [1, 256]");
  if (p.top_k < 1 || p.top_k > p.experts || p.top_k > 32) throw Error("route_experts: top_k must be in [1, min(experts, 32)]");
  if (p.grouped && (p.n_group < 1 || p.n_group > 32 || p.experts % p.n_group != 0 || p.topk_group < 1 ||
                    p.topk_group > p.n_group))
    throw Error("route_experts: groups must divide the experts, n_group <= 32, 1 <= topk_group <= n_group");
  const unsigned blocks = static_cast<unsigned>((tokens + kWarps - 1) / kWarps);
  launch_dependent(route_kernel, blocks, kWarps * 32, 0, stream, logits, tokens, bias, p, ids, weights);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
