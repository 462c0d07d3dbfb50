// Decode-sized MoE in two launches (see MoeGemv in ops.h): the gate_up products with SwiGLU
// applied in the same block, then the down products of every slot of a token summed with their
// gate weights in the same block. The routed experts are read from the router's ids on the device,
// so a decode step needs no host round trip (and is captured as one CUDA graph); the shared
// experts ride along as slots of weight 1, so a decode step's feed-forward is these two launches
// after the router instead of eight.
//
// Blocks run token-fastest (grid.x = tokens): the blocks of all tokens for the same weight rows
// are placed together, so a matrix that several tokens read (the shared experts, a dense MLP, an
// expert two tokens chose) comes from L2 after the first.
#include <cuda/atomic>
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/gemv_input.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda/swiglu.cuh"

namespace tide::cuda {
namespace {

constexpr int kWarps = 8;
// gate_up: two (gate row, up row) pairs a warp, features warp and warp + kWarps of the block. With
// one pair a warp, V2-Lite's batch-1 step ran 1.8 waves of blocks (40 registers a thread: six
// blocks an SM); with two, its routed slots fit one wave and a warp keeps four rows in flight.
constexpr int kPairsPerWarp = 2;
constexpr int kPairsPerBlock = kPairsPerWarp * kWarps;
// down: a warp takes kDownRows adjacent features of one slot (four rows in flight) over a segment
// of the inner dimension; a block takes kDownRows features, see down_splits.
constexpr int kDownRows = 4;
constexpr int kMaxDownSplits = kWarps;
// Blocks an SM must hold (registers capped to fit): V2-Lite's batch-1 step, 132 SMs, then places
// every routed gate_up block (528) and every down block (512) in one wave.
constexpr int kGateUpBlocksPerSm = 4;
constexpr int kDownBlocksPerSm = 4;
constexpr int kMaxSlots = 16;
constexpr int64_t kMaxHidden = 12 * 1024;  // gate_up's input row sits in shared memory as fp32

// One slot's matrices: routed slots read their expert's, shared slots their slice of the shared MLP.
struct SlotWeights {
  const bf16* gate;  // [inter, hidden]
  const bf16* up;    // [inter, hidden]
  const bf16* down;  // [hidden, inter] with rows down_ld apart
  int64_t down_ld;
};

// kIdsFromL2: a routed slot's expert id read from L2, by a kernel that has not waited for the
// launch before it but knows the router complete (down_kernel): its SM's L1 may hold the ids of
// an earlier layer.
template <bool kIdsFromL2 = false>
__device__ __forceinline__ SlotWeights slot_weights(const MoeGemv& m, int64_t token, int slot) {
  const int64_t matrix = m.inter * m.hidden;
  if (slot < m.top_k) {
    const int32_t* id = m.ids + token * m.top_k + slot;
    const int32_t e = kIdsFromL2 ? __ldcg(id) : *id;
    return {m.gate_up[e], m.gate_up[e] + matrix, m.down[e], m.inter};
  }
  const int j = slot - m.top_k;
  return {m.shared_gate_up + j * matrix, m.shared_gate_up + (m.shared + j) * matrix, m.shared_down + j * m.inter,
          m.shared * m.inter};
}

__device__ __forceinline__ void load8(const float* x, float (&v)[8]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = x[i];
}
__device__ __forceinline__ void load8(const bf16* x, float (&v)[8]) {
  const uint4 packed = __ldg(reinterpret_cast<const uint4*>(x));
  const bf16* h = reinterpret_cast<const bf16*>(&packed);
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = __bfloat162float(h[i]);
}
__device__ __forceinline__ float widen(float x) { return x; }
__device__ __forceinline__ float widen(bf16 x) { return __bfloat162float(x); }

__device__ __forceinline__ float dot8(const uint4& w, const float (&x)[8]) {
  const bf16* v = reinterpret_cast<const bf16*>(&w);
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) sum += __bfloat162float(v[i]) * x[i];
  return sum;
}

// kEvictFirst: the expert weights, read once a step, are marked first to leave L2, so that their
// stream does not push out what a launch asked of L2 ahead (L2Ahead) or what the step reads again.
// Measuring only (TIDE_MOE_EVICT_FIRST=1) until a run shows which way is faster.
bool moe_weights_evict_first() {
  static const bool on = [] {
    const char* v = std::getenv("TIDE_MOE_EVICT_FIRST");
    return v != nullptr && std::string_view(v) == "1";
  }();
  return on;
}

// Not volatile: the same policy for every load, which the compiler may make once.
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy;
  asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}

__device__ __forceinline__ uint4 load_evict_first(const bf16* p, uint64_t policy) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p), "l"(policy));
  return v;
}

// Chunk c (8 elements at c; zeros past n) of each of kRows rows, 16-byte loads.
template <int kRows, bool kEvictFirst = false>
__device__ __forceinline__ void load_chunks(const bf16* const (&w)[kRows], int64_t c, int64_t n, uint4 (&p)[kRows]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (c >= n) p[r] = make_uint4(0, 0, 0, 0);
    else if constexpr (kEvictFirst) p[r] = load_evict_first(w[r] + c, evict_first_policy());
    else p[r] = *reinterpret_cast<const uint4*>(w[r] + c);
  }
}

// kRows weight rows dotted with the same x over a warp (n % 8 == 0, 16-byte rows), all their loads
// in flight together and the next chunk's asked for before this one is summed: a warp that
// finished one dot before starting the next would wait out the memory latency once per row.
// head: the rows' first chunks (c = lane * 8), which a kernel loads early, before its wait or its
// input's normalisation. Every lane gets every sum.
template <int kRows, bool kEvictFirst = false, typename X>
__device__ __forceinline__ void warp_dots_ahead(const bf16* const (&w)[kRows], const uint4 (&head)[kRows], const X* x,
                                                int64_t n, int lane, float (&sums)[kRows]) {
  uint4 p[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) sums[r] = 0.f, p[r] = head[r];
  for (int64_t c = lane * 8; c < n; c += 32 * 8) {
    uint4 next[kRows];
    load_chunks<kRows, kEvictFirst>(w, c + 32 * 8, n, next);
    float xv[8];
    load8(x + c, xv);
#pragma unroll
    for (int r = 0; r < kRows; ++r) sums[r] += dot8(p[r], xv), p[r] = next[r];
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) sums[r] = warp_sum(sums[r]);
}

// warp_dots_ahead with nothing loaded early, or (kVector false: rows of any width) an element a lane.
template <int kRows, bool kVector, typename X>
__device__ __forceinline__ void warp_dots(const bf16* const (&w)[kRows], const X* x, int64_t n, int lane,
                                          float (&sums)[kRows]) {
  if constexpr (kVector) {
    uint4 head[kRows];
    load_chunks(w, lane * 8, n, head);
    warp_dots_ahead(w, head, x, n, lane, sums);
  } else {
#pragma unroll
    for (int r = 0; r < kRows; ++r) sums[r] = 0.f;
    for (int64_t c = lane; c < n; c += 32) {
      const float xv = widen(x[c]);
#pragma unroll
      for (int r = 0; r < kRows; ++r) sums[r] += __bfloat162float(w[r][c]) * xv;
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) sums[r] = warp_sum(sums[r]);
  }
}

// act[token, slot, f] for kPairsPerBlock features f; grid (tokens, feature blocks, slots).
// The shared slots' blocks come first (blockIdx.z < shared), so that they are the ones placed
// while the router runs: needing no expert id, they pull their weight rows towards L2 before
// waiting for it.
// kNormed: h is normalised as it is read (GemvInput's norm_weight; 16-byte rows only).
template <bool kVector, bool kNormed, bool kEvictFirst>
__global__ void __launch_bounds__(kWarps * 32, kGateUpBlocksPerSm) gate_up_kernel(MoeGemv m, GemvInput h, bf16* act) {
  extern __shared__ float input[];
  const int64_t token = blockIdx.x, first = static_cast<int64_t>(blockIdx.y) * kPairsPerBlock;
  const int z = static_cast<int>(blockIdx.z), slots = m.top_k + m.shared;
  const int slot = z < m.shared ? m.top_k + z : z - m.shared;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t f0 = first + warp, f1 = f0 + kWarps;
  // The warp's rows, and (kVector) their first chunks, asked for before the input is normalised.
  // Features past the end read a valid row again (f0's, or the block's first); their sums go unused.
  const int64_t f0_row = f0 < m.inter ? f0 : first, f1_row = f1 < m.inter ? f1 : f0_row;
  const bf16* rows[2 * kPairsPerWarp];
  uint4 head[2 * kPairsPerWarp];
  const auto ask_rows = [&](const SlotWeights& w) {
    rows[0] = w.gate + f0_row * m.hidden, rows[1] = w.up + f0_row * m.hidden;
    rows[2] = w.gate + f1_row * m.hidden, rows[3] = w.up + f1_row * m.hidden;
    if constexpr (kVector) load_chunks<2 * kPairsPerWarp, kEvictFirst>(rows, lane * 8, m.hidden, head);
  };
  if (slot >= m.top_k) {
    const SlotWeights w = slot_weights(m, token, slot);
    const int64_t count = first + kPairsPerBlock <= m.inter ? kPairsPerBlock : m.inter - first;
    prefetch_l2(w.gate + first * m.hidden, count * m.hidden * int64_t{sizeof(bf16)});
    prefetch_l2(w.up + first * m.hidden, count * m.hidden * int64_t{sizeof(bf16)});
    ask_rows(w);
  }
  // A shared slot ahead of the router (MoeGemv::shared_ahead_of_router) reads h from L2 without
  // waiting: h's writer finished before the router's wait returned, so before this launch.
  const bool ahead = slot >= m.top_k && m.shared_ahead_of_router;
  if (ahead) {
    allow_dependent_grids();
    if constexpr (kNormed) {
      normalise_into<InputLoad::L2>(h, token, m.hidden, input);
    } else {
      for (int64_t i = threadIdx.x; i < m.hidden; i += blockDim.x)
        input[i] = __bfloat162float(__ldcg(h.x + token * m.hidden + i));
    }
  } else {
    begin_dependent_kernel();
    if (slot < m.top_k) ask_rows(slot_weights(m, token, slot));  // the router's ids: this block waited for it
    if constexpr (kNormed) {
      normalise_into(h, token, m.hidden, input);
    } else {
      for (int64_t i = threadIdx.x; i < m.hidden; i += blockDim.x) input[i] = __bfloat162float(h.x[token * m.hidden + i]);
    }
  }
  __syncthreads();

  if (f0 >= m.inter) return;
  float dots[2 * kPairsPerWarp];
  if constexpr (kVector) warp_dots_ahead<2 * kPairsPerWarp, kEvictFirst>(rows, head, input, m.hidden, lane, dots);
  else warp_dots<2 * kPairsPerWarp, false>(rows, input, m.hidden, lane, dots);
  // Rounded to bf16 as the gate_up GEMM stores its output, then SiLU·mul as silu_mul computes it.
  bf16* out = act + (token * slots + slot) * m.inter;
  if (lane == 0) out[f0] = swiglu(__float2bfloat16(dots[0]), __float2bfloat16(dots[1]));
  if (lane == 0 && f1 < m.inter) out[f1] = swiglu(__float2bfloat16(dots[2]), __float2bfloat16(dots[3]));
}

// One feature of a token's output from its slots' products (partial(slot)), rounded as the grouped
// path rounds: the shared experts' output (one product over their whole width) and each routed
// expert's output to bf16, then the weighted sum on top of the shared. delta non-null: out is the
// residual stream, and gets (out + delta) + the sum, each add rounded as rms_norm's.
template <typename Partial>
__device__ __forceinline__ void store_combined(const MoeGemv& m, int64_t token, Partial partial, const bf16* delta,
                                               bf16* out, int64_t feature) {
  const int slots = m.top_k + m.shared;
  float shared = 0.f;
  for (int slot = m.top_k; slot < slots; ++slot) shared += partial(slot);
  float sum = m.shared > 0 ? __bfloat162float(__float2bfloat16(shared)) : 0.f;
  for (int slot = 0; slot < m.top_k; ++slot)
    sum += m.weights[token * m.top_k + slot] * __bfloat162float(__float2bfloat16(partial(slot)));
  bf16* o = out + token * m.hidden + feature;
  if (delta) {
    const float residual = __bfloat162float(__float2bfloat16(__bfloat162float(*o) + __bfloat162float(delta[o - out])));
    *o = __float2bfloat16(residual + __bfloat162float(__float2bfloat16(sum)));
  } else {
    *o = __float2bfloat16(sum);
  }
}

// down's segments of the inner dimension: a warp takes one (slot, segment) at a time, and with
// fewer slots than warps each slot's products are split across warps, so that no warp idles and a
// dense MLP's down (one slot: eight segments) keeps as many rows in flight as the experts' (V2's
// eight slots: one segment; V3's nine: one, a warp taking two slots). Each (slot, feature) is the
// sum of its segments' products in segment order. Grouping more features a block instead, as
// this did before, ran V2-Lite's dense down on 64 blocks of 8 warps: too few bytes in flight.
__host__ __device__ __forceinline__ int down_splits(int slots) { return slots < kWarps ? kWarps / slots : 1; }
// A segment's length: an even share of the row in whole 16-byte pieces, so that every segment
// starts aligned (V2-Lite's dense down: 8 segments of 1368).
__host__ __device__ __forceinline__ int64_t down_segment(int64_t inter, int splits) {
  const int64_t per = (inter + splits - 1) / splits;
  return (per + 7) / 8 * 8;
}

// out[token, f] for the block's kDownRows features over every slot; grid (tokens, feature
// blocks). Before the wait, the shared slots' rows of the block's features are pulled towards L2,
// as in gate_up_kernel, and each warp loads the first chunks of its first rows.
// delta non-null: out is the residual stream, and gets (out + delta) + sum (moe_gemv_down_into_residual);
// each block reads and writes only its own features of it.
// kSplit false: one segment, the whole row (16-byte rows with kWarps slots or more): the state of
// the segments costs the experts' form registers it would spill. Rows of any width take kSplit.
template <bool kVector, bool kEvictFirst, bool kSplit>
__global__ void __launch_bounds__(kWarps * 32, kDownBlocksPerSm) down_kernel(MoeGemv m, const bf16* act, const bf16* delta, bf16* out) {
  __shared__ float partial[kMaxSlots][kMaxDownSplits][kDownRows];
  const int slots = m.top_k + m.shared, splits = kSplit ? down_splits(slots) : 1;
  const int64_t segment = kSplit ? down_segment(m.inter, splits) : m.inter;
  const int64_t token = blockIdx.x, first = static_cast<int64_t>(blockIdx.y) * kDownRows;
  const int64_t features = first + kDownRows <= m.hidden ? kDownRows : m.hidden - first;
  for (int slot = m.top_k; slot < slots; ++slot) {
    const SlotWeights w = slot_weights(m, token, slot);
    for (int64_t f = first; f < first + features; ++f)
      prefetch_l2(w.down + f * w.down_ld, m.inter * int64_t{sizeof(bf16)});
  }
  // A warp per (slot, segment), the block's rows in flight at once.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const bf16* rows[kDownRows];
  uint4 head[kDownRows];  // kVector: the rows' first chunks of the segment
  const auto ask_rows = [&](const SlotWeights& w, int64_t k0) {
#pragma unroll
    for (int r = 0; r < kDownRows; ++r)  // past the block's features: its first row again, unused
      rows[r] = w.down + (first + (r < features ? r : 0)) * w.down_ld + k0;
    if constexpr (kVector) load_chunks<kDownRows, kEvictFirst>(rows, lane * 8, (segment < m.inter - k0 ? segment : m.inter - k0), head);
  };
  // The warp's first item is asked for before the wait: its weights need only the router's ids,
  // and the router is complete by now (the launch before, moe_gemv_gate_up, places no block of
  // ours until its routed blocks have waited for the router).
  if (warp < slots * splits && (warp / slots) * segment < m.inter)
    ask_rows(slot_weights<true>(m, token, warp % slots), (warp / slots) * segment);
  begin_dependent_kernel();
  for (int item = warp; item < slots * splits; item += kWarps) {
    const int slot = item % slots, split = item / slots;
    const int64_t k0 = split * segment;
    float dots[kDownRows] = {};
    if (k0 < m.inter) {
      if (item != warp) ask_rows(slot_weights(m, token, slot), k0);
      const bf16* const x = act + (token * slots + slot) * m.inter + k0;
      const int64_t n = (segment < m.inter - k0 ? segment : m.inter - k0);
      if constexpr (kVector) warp_dots_ahead<kDownRows, kEvictFirst>(rows, head, x, n, lane, dots);
      else warp_dots<kDownRows, false>(rows, x, n, lane, dots);
    }
    if (lane == 0)
#pragma unroll
      for (int r = 0; r < kDownRows; ++r) partial[slot][split][r] = dots[r];
  }
  __syncthreads();
  if (threadIdx.x < features)
    store_combined(
        m, token,
        [&](int slot) {
          float sum = 0.f;
          for (int split = 0; split < splits; ++split) sum += partial[slot][split][threadIdx.x];
          return sum;
        },
        delta, out, first + threadIdx.x);
}

bool shapes_supported(const MoeGemv& m) {
  const int slots = m.top_k + m.shared;
  return m.hidden > 0 && m.hidden <= kMaxHidden && m.inter > 0 && m.inter <= int64_t{65535} * kPairsPerBlock &&
         m.top_k >= 0 && m.shared >= 0 && slots >= 1 && slots <= kMaxSlots && m.tokens <= 0x7fffffff;
}

void check(const MoeGemv& m) {
  if (!shapes_supported(m))
    throw Error("moe_gemv: needs 0 < hidden <= 12288, 0 < inter, 1..16 slots (top_k + shared) (got hidden " +
                std::to_string(m.hidden) + ", inter " + std::to_string(m.inter) + ", top_k " +
                std::to_string(m.top_k) + ", shared " + std::to_string(m.shared) + ")");
  if ((m.top_k > 0 && (!m.ids || !m.weights || !m.gate_up || !m.down)) ||
      (m.shared > 0 && (!m.shared_gate_up || !m.shared_down)))
    throw Error("moe_gemv: a slot's weights or the router's ids and weights are missing");
}

// Weights come from cudaMalloc (256-byte aligned); rows of a multiple of 8 keep 16-byte loads
// (every shared slice starts a multiple of 8 columns in, too).
bool vector_rows(const MoeGemv& m) { return m.hidden % 8 == 0 && m.inter % 8 == 0; }

}  // namespace

bool moe_gemv_supported(const MoeGemv& m) { return shapes_supported(m); }

void moe_gemv_gate_up(const MoeGemv& m, const GemvInput& h, bf16* act, cudaStream_t stream) {
  if (m.tokens <= 0) return;
  check(m);
  const bool vector = vector_rows(m);
  if (h.norm_weight &&
      (!vector || (reinterpret_cast<uintptr_t>(h.x) | reinterpret_cast<uintptr_t>(h.delta) |
                   reinterpret_cast<uintptr_t>(h.norm_weight)) % 16 != 0))
    throw Error("moe_gemv_gate_up: normalising the input needs widths that are multiples of 8 and 16-byte aligned rows");
  const dim3 grid(static_cast<unsigned>(m.tokens), static_cast<unsigned>((m.inter + kPairsPerBlock - 1) / kPairsPerBlock),
                  static_cast<unsigned>(m.top_k + m.shared));  // shared slots first: see gate_up_kernel
  const std::size_t shared_bytes = m.hidden * sizeof(float);
  const bool evict_first = moe_weights_evict_first();
  if (h.norm_weight)
    launch_dependent(evict_first ? gate_up_kernel<true, true, true> : gate_up_kernel<true, true, false>, grid,
                     kWarps * 32, shared_bytes, stream, m, h, act);
  else if (vector)
    launch_dependent(evict_first ? gate_up_kernel<true, false, true> : gate_up_kernel<true, false, false>, grid,
                     kWarps * 32, shared_bytes, stream, m, h, act);
  else
    launch_dependent(gate_up_kernel<false, false, false>, grid, kWarps * 32, shared_bytes, stream, m, h, act);
  TIDE_CUDA_CHECK_LAUNCH();
}

namespace {

void launch_down(const MoeGemv& m, const bf16* act, const bf16* delta, bf16* out, cudaStream_t stream) {
  if (m.tokens <= 0) return;
  check(m);
  const dim3 grid(static_cast<unsigned>(m.tokens), static_cast<unsigned>((m.hidden + kDownRows - 1) / kDownRows));
  const bool split = down_splits(m.top_k + m.shared) > 1;
  void (*kernel)(MoeGemv, const bf16*, const bf16*, bf16*) = down_kernel<false, false, true>;
  if (vector_rows(m) && moe_weights_evict_first())
    kernel = split ? down_kernel<true, true, true> : down_kernel<true, true, false>;
  else if (vector_rows(m))
    kernel = split ? down_kernel<true, false, true> : down_kernel<true, false, false>;
  launch_dependent(kernel, grid, kWarps * 32, 0, stream, m, act, delta, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void moe_gemv_down(const MoeGemv& m, const bf16* act, bf16* out, cudaStream_t stream) {
  launch_down(m, act, nullptr, out, stream);
}

void moe_gemv_down_into_residual(const MoeGemv& m, const bf16* act, const bf16* delta, bf16* residual,
                                 cudaStream_t stream) {
  if (!delta) throw Error("moe_gemv_down_into_residual: delta is required");
  launch_down(m, act, delta, residual, stream);
}

namespace {

// ---- gate_up and down in one launch (moe_gemv_one_launch) ----
//
// The two launches' boundary costs the step the tail of gate_up (its last blocks finishing while
// the memory idles) and the ramp of down (whose blocks are placed only as gate_up's leave, then all
// wait for its last). Here CTAs take work items from a queue, every gate_up item before any down
// item: a down item (one slot's products over one segment of the inner dimension, down_splits,
// for kOneLaunchFeatures features) waits only for its own slot's gate_up items, so the shared
// slots' down rows stream while routed gate_up items finish, and the queue keeps every CTA busy to
// the end. Each item's products go to `partials`; the last to arrive at a block of features sums
// them, each slot's segments in order and then the slots, as down_kernel does: the result is bit
// for bit that of the two launches.
//
// No deadlock for any number of resident CTAs: a CTA waits only on gate_up items, all of which
// were taken (the queue hands them out first) by CTAs that are running and wait on nothing but the
// launch before. The counters, each on its own 128-byte line (many CTAs poll or add to them at the
// handover from gate_up to down): the queue, the CTAs finished, a count of finished gate_up items
// per (token, slot), and a count of down items arrived per (token, block of features). Whoever uses a
// count last zeroes it, so every launch finds them zero.
constexpr int kOneLaunchFeatures = kDownRows * kWarps;  // a down item: one slot, a warp per kDownRows features
// Three CTAs an SM leave room for the registers of both kinds of item (80, a few bytes spilled); with
// each warp keeping four rows in flight, 396 CTAs keep far more bytes in flight than the memory needs.
constexpr int kOneLaunchBlocksPerSm = 3;
constexpr int64_t kCounterStride = 32;  // words: a counter a 128-byte line

struct OneLaunch {
  MoeGemv m;
  GemvInput h;
  bf16* act;
  float* partials;  // [tokens, slots, splits, hidden]
  unsigned* counters;  // kCounterStride words apart
  const bf16* delta;
  bf16* out;
  int gate_up_blocks;  // kPairsPerBlock features a block, per slot
  int down_blocks;     // kOneLaunchFeatures features a block
  int splits;          // segments of the inner dimension a slot (down_splits)
  int64_t segment;     // their length (down_segment)
  int64_t gate_up_items, down_items;
};

// Items are ordered as the two launches' grids: token fastest, then the block of features, then
// the slot, the shared slots first.
__device__ __forceinline__ int item_slot(const MoeGemv& m, int64_t z) {
  return z < m.shared ? m.top_k + static_cast<int>(z) : static_cast<int>(z) - m.shared;
}

template <bool kNormed, bool kEvictFirst>
__global__ void __launch_bounds__(kWarps * 32, kOneLaunchBlocksPerSm) one_launch_kernel(OneLaunch a) {
  // The token's normalised input while the CTA takes gate_up items, then a slot's act row.
  extern __shared__ float row[];
  __shared__ unsigned next_item;
  __shared__ bool sums_here;
  const MoeGemv& m = a.m;
  const int slots = m.top_k + m.shared;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  unsigned* const queue = a.counters;
  unsigned* const finished = a.counters + kCounterStride;
  const auto slot_done = [&](int64_t token, int slot) -> unsigned& {
    return a.counters[(2 + token * slots + slot) * kCounterStride];
  };
  const auto arrived = [&](int64_t token, int64_t block) -> unsigned& {
    return a.counters[(2 + m.tokens * slots + token * a.down_blocks + block) * kCounterStride];
  };
  const int64_t items = a.gate_up_items + a.down_items;

  allow_dependent_grids();
  // Shared slots ahead of the router read h from L2 without waiting (see gate_up_kernel); every
  // other item waits for the launch before.
  bool waited = false;
  const auto wait_once = [&] {
    if (!waited) wait_for_prior_grids();
    waited = true;
  };
  if (!m.shared_ahead_of_router) wait_once();
  int64_t row_token = -1;  // whose input `row` holds

  if (threadIdx.x == 0) next_item = atomicAdd(queue, 1u);
  __syncthreads();
  int64_t item = next_item;
  while (item < items) {
    __syncthreads();  // every thread has read next_item
    unsigned claimed = 0;
    if (threadIdx.x == 0) claimed = atomicAdd(queue, 1u);  // the next item, asked for now and read at the end
    if (item < a.gate_up_items) {
      const int64_t token = item % m.tokens, rest = item / m.tokens;
      const int64_t first = rest % a.gate_up_blocks * kPairsPerBlock;
      const int slot = item_slot(m, rest / a.gate_up_blocks);
      if (slot < m.top_k) wait_once();  // the router's ids
      const SlotWeights w = slot_weights(m, token, slot);
      const int64_t f0 = first + warp, f1 = f0 + kWarps;
      const int64_t f0_row = f0 < m.inter ? f0 : first, f1_row = f1 < m.inter ? f1 : f0_row;
      const bf16* rows[2 * kPairsPerWarp] = {w.gate + f0_row * m.hidden, w.up + f0_row * m.hidden,
                                             w.gate + f1_row * m.hidden, w.up + f1_row * m.hidden};
      uint4 head[2 * kPairsPerWarp];
      load_chunks<2 * kPairsPerWarp, kEvictFirst>(rows, lane * 8, m.hidden, head);
      if (row_token != token) {
        // From L2 even after the wait: h.x is the residual stream that this launch's sums write
        // (each token's only after all its gate_up items have read it; a read-only load of memory
        // the kernel writes is outside that path's contract all the same).
        if constexpr (kNormed) {
          normalise_into<InputLoad::L2>(a.h, token, m.hidden, row);
        } else {
          for (int64_t i = threadIdx.x; i < m.hidden; i += blockDim.x)
            row[i] = __bfloat162float(__ldcg(a.h.x + token * m.hidden + i));
        }
        row_token = token;
        __syncthreads();
      }
      if (f0 < m.inter) {
        float dots[2 * kPairsPerWarp];
        warp_dots_ahead<2 * kPairsPerWarp, kEvictFirst>(rows, head, row, m.hidden, lane, dots);
        bf16* out = a.act + (token * slots + slot) * m.inter;
        if (lane == 0) out[f0] = swiglu(__float2bfloat16(dots[0]), __float2bfloat16(dots[1]));
        if (lane == 0 && f1 < m.inter) out[f1] = swiglu(__float2bfloat16(dots[2]), __float2bfloat16(dots[3]));
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(&slot_done(token, slot), 1u);
      }
    } else {
      const int64_t d = item - a.gate_up_items;
      const int64_t token = d % m.tokens, rest = d / m.tokens;
      const int64_t block = rest % a.down_blocks, first = block * kOneLaunchFeatures;
      const int split = static_cast<int>(rest / a.down_blocks % a.splits);
      const int slot = item_slot(m, rest / a.down_blocks / a.splits);
      const int64_t features = first + kOneLaunchFeatures <= m.hidden ? kOneLaunchFeatures : m.hidden - first;
      // The segment of the inner dimension, as down_kernel splits it; past the end: zeros.
      const int64_t k0 = split * a.segment, n = k0 < m.inter ? (a.segment < m.inter - k0 ? a.segment : m.inter - k0) : 0;
      wait_once();  // the router's ids, and delta and out for the sums
      const SlotWeights w = slot_weights(m, token, slot);
      const int64_t f = kDownRows * warp;  // the warp's first feature within the block
      const bf16* rows[kDownRows];
      uint4 head[kDownRows];
      if (f < features && n > 0) {  // the weights need no gate_up item: asked for before the wait for the slot
#pragma unroll
        for (int r = 0; r < kDownRows; ++r)
          rows[r] = w.down + (first + (f + r < features ? f + r : f)) * w.down_ld + k0;
        load_chunks<kDownRows, kEvictFirst>(rows, lane * 8, n, head);
      }
      if (threadIdx.x == 0 && n > 0) {
        const ::cuda::atomic_ref<unsigned, ::cuda::thread_scope_device> done(slot_done(token, slot));
        for (unsigned pause = 32; done.load(::cuda::memory_order_acquire) < static_cast<unsigned>(a.gate_up_blocks);
             pause = pause < 256 ? 2 * pause : pause)
          __nanosleep(pause);
      }
      __syncthreads();
      // The segment of the slot's act row, from L2: other CTAs wrote it in this launch.
      const uint4* act = reinterpret_cast<const uint4*>(a.act + (token * slots + slot) * m.inter + k0);
      for (int64_t c = threadIdx.x; c < n / 8; c += blockDim.x) {
        const uint4 packed = __ldcg(act + c);
        const bf16* v = reinterpret_cast<const bf16*>(&packed);
#pragma unroll
        for (int i = 0; i < 8; ++i) row[c * 8 + i] = __bfloat162float(v[i]);
      }
      row_token = -1;
      __syncthreads();
      if (f < features) {
        float dots[kDownRows] = {};
        if (n > 0) warp_dots_ahead<kDownRows, kEvictFirst>(rows, head, row, n, lane, dots);
        float* partial = a.partials + ((token * slots + slot) * a.splits + split) * m.hidden + first + f;
        if (lane == 0)
#pragma unroll
          for (int r = 0; r < kDownRows; ++r)
            if (f + r < features) partial[r] = dots[r];
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        __threadfence();  // this CTA's partials before its arrival
        const bool last = atomicAdd(&arrived(token, block), 1u) == static_cast<unsigned>(slots * a.splits - 1);
        if (last) __threadfence();  // the other slots' partials before the sums read them
        sums_here = last;
      }
      __syncthreads();
      if (sums_here) {  // every slot of this block of features has arrived
        // Each slot's segments summed in order, as down_kernel sums them.
        const float* partials = a.partials + token * slots * a.splits * m.hidden + first + threadIdx.x;
        const auto slot_sum = [&](int s) {
          float sum = 0.f;
          for (int k = 0; k < a.splits; ++k) sum += __ldcg(partials + (s * a.splits + k) * m.hidden);
          return sum;
        };
        if (threadIdx.x < features) store_combined(m, token, slot_sum, a.delta, a.out, first + threadIdx.x);
        if (threadIdx.x == 0) arrived(token, block) = 0;
      }
    }
    if (threadIdx.x == 0) next_item = claimed;
    __syncthreads();
    item = next_item;
  }
  // The last CTA out zeroes what the others may still have read until they left.
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(finished, 1u) == gridDim.x - 1) {
      __threadfence();
      for (int64_t t = 0; t < m.tokens; ++t)
        for (int slot = 0; slot < slots; ++slot) slot_done(t, slot) = 0;
      *queue = 0;
      *finished = 0;
    }
  }
}

constexpr std::size_t kOneLaunchMaxRowBytes = 96 * 1024;

std::size_t one_launch_row_bytes(const MoeGemv& m) {
  return static_cast<std::size_t>(std::max(m.hidden, m.inter)) * sizeof(float);
}

int64_t one_launch_down_blocks(const MoeGemv& m) { return (m.hidden + kOneLaunchFeatures - 1) / kOneLaunchFeatures; }

}  // namespace

int64_t moe_gemv_one_launch_partials(const MoeGemv& m) {
  const int slots = m.top_k + m.shared;
  return m.tokens * slots * down_splits(slots) * m.hidden;
}

int64_t moe_gemv_one_launch_counters(const MoeGemv& m) {
  return (2 + m.tokens * (m.top_k + m.shared) + m.tokens * one_launch_down_blocks(m)) * kCounterStride;
}

bool moe_gemv_one_launch_supported(const MoeGemv& m) {
  return shapes_supported(m) && vector_rows(m) && one_launch_row_bytes(m) <= kOneLaunchMaxRowBytes;
}

void moe_gemv_one_launch(const MoeGemv& m, const GemvInput& h, bf16* act, const MoeGemvOneLaunch& s,
                         const bf16* delta, bf16* out, cudaStream_t stream) {
  if (m.tokens <= 0) return;
  check(m);
  if (!moe_gemv_one_launch_supported(m))
    throw Error("moe_gemv_one_launch: needs widths that are multiples of 8 and rows of at most 24576 elements");
  if (h.norm_weight && (reinterpret_cast<uintptr_t>(h.x) | reinterpret_cast<uintptr_t>(h.delta) |
                        reinterpret_cast<uintptr_t>(h.norm_weight)) % 16 != 0)
    throw Error("moe_gemv_one_launch: normalising the input needs 16-byte aligned rows");
  if (!act || !out || reinterpret_cast<uintptr_t>(act) % 16 != 0)
    throw Error("moe_gemv_one_launch: needs act (16-byte aligned) and out");
  if (!s.partials || !s.counters || s.partial_floats < moe_gemv_one_launch_partials(m) ||
      s.counter_words < moe_gemv_one_launch_counters(m))
    throw Error("moe_gemv_one_launch: needs " + std::to_string(moe_gemv_one_launch_partials(m)) + " partials and " +
                std::to_string(moe_gemv_one_launch_counters(m)) + " counters (got " + std::to_string(s.partial_floats) +
                " and " + std::to_string(s.counter_words) + ")");
  const int slots = m.top_k + m.shared;
  OneLaunch a{.m = m, .h = h, .act = act, .partials = s.partials, .counters = s.counters, .delta = delta, .out = out,
              .gate_up_blocks = static_cast<int>((m.inter + kPairsPerBlock - 1) / kPairsPerBlock),
              .down_blocks = static_cast<int>(one_launch_down_blocks(m)), .splits = down_splits(slots),
              .segment = down_segment(m.inter, down_splits(slots)), .gate_up_items = 0, .down_items = 0};
  a.gate_up_items = m.tokens * a.gate_up_blocks * slots;
  a.down_items = m.tokens * a.down_blocks * slots * a.splits;
  const bool evict_first = moe_weights_evict_first();
  void (*kernel)(OneLaunch) = h.norm_weight ? (evict_first ? one_launch_kernel<true, true> : one_launch_kernel<true, false>)
                                            : (evict_first ? one_launch_kernel<false, true> : one_launch_kernel<false, false>);
  static std::atomic<uint64_t> set_on[4]{};
  const int which = (h.norm_weight ? 2 : 0) + (evict_first ? 1 : 0);
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(kernel), kOneLaunchMaxRowBytes, set_on[which]);
  const std::size_t bytes = one_launch_row_bytes(m);
  int per_sm = 0, device = 0, sms = 0;
  TIDE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kWarps * 32, bytes));
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  TIDE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  int64_t ctas = std::min<int64_t>(a.gate_up_items + a.down_items, int64_t{std::max(per_sm, 1)} * sms);
  if (s.max_ctas > 0) ctas = std::min<int64_t>(ctas, s.max_ctas);
  launch_dependent(kernel, dim3(static_cast<unsigned>(ctas)), kWarps * 32, bytes, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
