// MLA prefill in the expanded form: one sequence's new rows attend causally over its whole
// context, as cpu::attention does for MlaAttention::attend_expanded.
//
// Why not the absorbed form (mla_decode) for prefill: it reads each row's whole prefix per query
// row, 576 wide for every head; an 8k-token prompt then spent 7 ms a layer in attention on an
// H100. Here the context's latents are expanded once per step (gather_latent_context, then one
// GEMM through kv_b_proj: per head k_nope and v of 128 each), and the attention is a causal flash
// kernel over 192-wide keys (k_nope | the shared rope key) and 128-wide values:
//   - a block is two warpgroups and 128 query rows of one head, each warpgroup 64 rows; the
//     query's fragments (192 dims) stay in registers for the whole context;
//   - keys and values come in tiles of 64 positions through a four-stage cp.async ring, stored
//     in the 128-byte swizzle the tensor cores read: keys K-major (three panels of 64 dims),
//     values MN-major (two panels of 64 dims);
//   - S = Q·Kᵀ and O += P·V are Hopper's warpgroup products (wgmma, bf16 in, fp32 accumulate):
//     Q and P from registers, K and V straight from shared memory, so no warp copies a key or
//     value fragment into registers; the softmax runs online in registers (the S accumulators
//     become P's fragments in place), one warpgroup's softmax beside the other's products;
//   - blocks of the latest rows, which see the most context, start first.
#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/wgmma.cuh"

namespace tide::cuda {
namespace {

constexpr int kNope = kMlaPrefillNopeDim, kRope = kMlaRopeDim, kQk = kNope + kRope, kV = kMlaPrefillValueDim;
constexpr int kWarpGroups = 2, kThreads = kWarpGroups * 128;
constexpr int kRowsPerGroup = 64, kRowsPerBlock = kWarpGroups * kRowsPerGroup;
constexpr int kKeysPerTile = 64;
// Stages in the ring: tiles t+1 and t+2 land while tile t is attended and tile t-1's P·V may
// still be running (its stage is refilled only once both warpgroups are past it).
constexpr int kStages = 4;
// A panel: 64 positions × 64 dims of bf16 (128 bytes a row) in the 128-byte swizzle.
constexpr int kPanelBytes = kKeysPerTile * 128;
constexpr int kKeyPanels = kQk / 64, kValuePanels = kV / 64;
constexpr int kStageBytes = (kKeyPanels + kValuePanels) * kPanelBytes;
constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageBytes + 1024;  // + room to align
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kQk % 64 == 0 && kV % 64 == 0 && kStageBytes % 1024 == 0);

// One tile's rows of kChunks 16-byte pieces each into panels of 64-wide swizzled rows: piece c of
// position p comes from source(p, c). Every thread copies the same rows and pieces each tile
// (constant trip count and divisors), so the address arithmetic is a few instructions a copy.
// Positions past the context are zero-filled (their source is read as position 0's, not at all).
template <int kChunks, typename Source>
__device__ __forceinline__ void copy_tile_rows(unsigned char* panels, int tile, int context, Source source) {
  static_assert(kKeysPerTile * kChunks % kThreads == 0);
#pragma unroll
  for (int k = 0; k < kKeysPerTile * kChunks / kThreads; ++k) {
    const int i = threadIdx.x + k * kThreads, row = i / kChunks, chunk = i % kChunks;
    const int pos = tile * kKeysPerTile + row;
    const bool valid = pos < context;
    cp_async16(panels + (chunk / 8) * kPanelBytes + swizzle128_offset(row, chunk % 8), source(valid ? pos : 0, chunk),
               valid);
  }
}

// The key tile `tile` (positions tile·64..+63) into one stage: each position's k_nope (from the
// expanded kv) and rope key as a row of the key panels, its value as a row of the value panels.
// Positions past the context are zero-filled, so that a masked key's value contributes 0·0,
// never 0·garbage.
__device__ __forceinline__ void load_tile(const MlaPrefillArgs& a, int head, int tile, unsigned char* stage) {
  const int64_t kv_stride = static_cast<int64_t>(a.heads) * (kNope + kV);
  const bf16* head_kv = a.kv + head * (kNope + kV);
  copy_tile_rows<kQk / 8>(stage, tile, a.context, [&](int64_t p, int chunk) {
    // k_nope from the expanded kv, the rope key from its own rows: chosen without a branch.
    const bool nope = chunk < kNope / 8;
    const bf16* base = nope ? head_kv : a.k_rope - kNope;
    return base + p * (nope ? kv_stride : int64_t{kRope}) + chunk * 8;
  });
  copy_tile_rows<kV / 8>(stage + kKeyPanels * kPanelBytes, tile, a.context,
                         [&](int64_t p, int chunk) { return head_kv + p * kv_stride + kNope + chunk * 8; });
}

// grid (ceil(rows / 128), heads), kThreads threads, kSharedBytes of dynamic shared memory.
__global__ void __launch_bounds__(kThreads) mla_prefill_kernel(MlaPrefillArgs a) {
  begin_dependent_kernel();
  extern __shared__ unsigned char shared_raw[];
  unsigned char* shared = align_1024(shared_raw);

  const int head = blockIdx.y;
  const int block_row = (gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;  // the latest rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the fragment's row group and column pair
  const int start = a.context - a.rows;  // the new rows' first position
  const int group_row = block_row + (warp / 4) * kRowsPerGroup;
  const int warp_row = group_row + (warp % 4) * 16;

  // This warp's query rows as A fragments over the 192 dims (12 steps of 16), zero past the rows.
  uint32_t qa[kQk / 16][4];
#pragma unroll
  for (int ks = 0; ks < kQk / 16; ++ks)
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // a0/a1: dims 2t, 2t+1; a2/a3: dims 2t+8, 2t+9
      const int dim = ks * 16 + half * 8 + 2 * t;
#pragma unroll
      for (int up = 0; up < 2; ++up) {  // rows g and g+8
        const int row = warp_row + g + up * 8;
        uint32_t v = 0;
        if (row < a.rows) {
          const bf16* src = dim < kNope ? a.q_nope + row * a.q_nope_stride + head * a.q_nope_head_stride + dim
                                        : a.q_rope + row * a.q_rope_stride + head * a.q_rope_head_stride + (dim - kNope);
          v = *reinterpret_cast<const uint32_t*>(src);
        }
        qa[ks][half * 2 + up] = v;
      }
    }

  // Accumulator element 4j + e: row g + 8·(e / 2) of the warp, column 8j + 2t + (e % 2).
  float o[kV / 2] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const float scale_log2 = a.scale * kLog2e;
  // Row g's and g+8's positions: each sees keys 0..position.
  const int position[2] = {start + warp_row + g, start + warp_row + g + 8};

  // P's fragments: declared out here because the last tile's P·V reads them while the next
  // tile's products are issued (fence_fragments keeps them live until its wait).
  uint32_t pa[kKeysPerTile / 16][4] = {};
  const int last_row = min(block_row + kRowsPerBlock, a.rows) - 1;
  const int tiles = (start + last_row) / kKeysPerTile + 1;
#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    if (s < tiles) load_tile(a, head, s, shared + s * kStageBytes);
    cp_async_commit();
  }
  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait<kStages - 3>();  // tile's copies have landed
    fence_async_shared();          // this thread's copies, before the products read them
    __syncthreads();               // everyone's copies; both warpgroups past tile - 2's products
    if (const int next = tile + kStages - 2; next < tiles) load_tile(a, head, next, shared + (next % kStages) * kStageBytes);
    cp_async_commit();
    const unsigned char* keys = shared + (tile % kStages) * kStageBytes;
    const unsigned char* values = keys + kKeyPanels * kPanelBytes;
    const int key0 = tile * kKeysPerTile;

    // A warpgroup whose rows all come before this tile (only on the diagonal and past it) skips
    // it, once its last P·V is done (that stage is refilled after the next barrier).
    if (key0 > start + group_row + kRowsPerGroup - 1) {
      wgmma_wait<0>();
      fence_fragments(pa);
      continue;
    }

    // S = Q·Kᵀ over 12 steps of 16 dims: 32 bytes deeper into a key panel each (2 in the
    // descriptor), a new panel every 4. The previous tile's P·V may still be running.
    float s[kKeysPerTile / 2];
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kQk / 16; ++ks)
      wgmma_m64n64k16_bf16_rs(s, qa[ks], swizzle128_descriptor(keys + (ks / 4) * kPanelBytes) + (ks % 4) * 2, ks > 0);
    wgmma_commit();
    wgmma_wait<0>();  // S, and the previous P·V
    fence_accumulators(s);
    fence_accumulators(o);
    fence_fragments(pa);

    // Online softmax, in base 2, the scale folded into the exponent (max(s)·scale is the scaled
    // max: the scale is positive). Only a tile that reaches past this warp's first row's
    // position has keys to mask.
    if (key0 + kKeysPerTile - 1 > start + warp_row) {
#pragma unroll
      for (int i = 0; i < kKeysPerTile / 2; ++i) {
        const int key = key0 + (i / 4) * 8 + 2 * t + (i % 2);
        if (key > position[(i % 4) / 2]) s[i] = -INFINITY;
      }
    }
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < kKeysPerTile / 2; ++i) tile_max[(i % 4) / 2] = fmaxf(tile_max[(i % 4) / 2], s[i]);
    // The exponent's offset: the row's max, or 0 for a row that has seen no key yet (its scores
    // are all -inf, and 2^-inf is the 0 it needs; its sum and output are 0, so rescaling them by
    // 2^-inf = 0 changes nothing).
    float offset[2], rescale[2];
#pragma unroll
    for (int up = 0; up < 2; ++up) {
      tile_max[up] = fmaxf(tile_max[up], __shfl_xor_sync(0xffffffffu, tile_max[up], 1));
      tile_max[up] = fmaxf(tile_max[up], __shfl_xor_sync(0xffffffffu, tile_max[up], 2));
      const float next = fmaxf(row_max[up], tile_max[up] * scale_log2);
      offset[up] = next == -INFINITY ? 0.f : next;
      rescale[up] = ex2(row_max[up] - offset[up]);
      row_max[up] = next;
      row_sum[up] *= rescale[up];
    }
#pragma unroll
    for (int i = 0; i < kV / 2; ++i) o[i] *= rescale[(i % 4) / 2];
    // P = 2^(s·scale - max), as bf16 A fragments of 16 keys each (8-column slices 2c and 2c+1).
#pragma unroll
    for (int c = 0; c < kKeysPerTile / 16; ++c)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float p[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          p[e] = ex2(fmaf(s[4 * (2 * c + half) + e], scale_log2, -offset[e / 2]));
          row_sum[e / 2] += p[e];
        }
        pa[c][half * 2] = pack_bf16(p[0], p[1]);
        pa[c][half * 2 + 1] = pack_bf16(p[2], p[3]);
      }
    // O += P·V over 4 steps of 16 keys: 16 rows (2048 bytes) deeper into the value panels each.
    // Left running: the next tile's barrier, copies and S overlap it.
    const uint64_t value_descriptor = mn_major_swizzle128_descriptor(values, kPanelBytes);
    wgmma_fence();
#pragma unroll
    for (int c = 0; c < kKeysPerTile / 16; ++c)
      wgmma_m64n128k16_bf16_rs_mn(o, pa[c], value_descriptor + c * (16 * 128 >> 4), true);
    wgmma_commit();
  }
  wgmma_wait<0>();
  fence_accumulators(o);
  fence_fragments(pa);
  cp_async_wait<0>();  // no copy may still be landing when the block exits

  // The row sums were kept per thread (each over its own keys); the quad holds the whole row.
#pragma unroll
  for (int up = 0; up < 2; ++up) {
    row_sum[up] += __shfl_xor_sync(0xffffffffu, row_sum[up], 1);
    row_sum[up] += __shfl_xor_sync(0xffffffffu, row_sum[up], 2);
  }
#pragma unroll
  for (int up = 0; up < 2; ++up) {
    const int row = warp_row + g + up * 8;
    if (row >= a.rows) continue;
    const float inv = 1.f / row_sum[up];
    bf16* out = a.out + row * a.out_stride + head * a.out_head_stride;
#pragma unroll
    for (int j = 0; j < kV / 8; ++j)
      *reinterpret_cast<__nv_bfloat162*>(out + j * 8 + 2 * t) =
          __floats2bfloat162_rn(o[4 * j + up * 2] * inv, o[4 * j + up * 2 + 1] * inv);
  }
}

// grid context, 64 threads: position p's cache entry [latent | rope key] split into latent[p] and
// rope[p].
__global__ void gather_latent_context_kernel(LatentContextGather a) {
  begin_dependent_kernel();
  const int p = blockIdx.x;
  const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
  const uint4* entry = reinterpret_cast<const uint4*>(a.cache + slot * kMlaEntryDim);
  constexpr int kLatentChunks = kMlaLatentDim / 8, kChunks = kMlaEntryDim / 8;
  for (int i = threadIdx.x; i < kChunks; i += blockDim.x) {
    const uint4 v = entry[i];
    if (i < kLatentChunks)
      reinterpret_cast<uint4*>(a.latent + static_cast<int64_t>(p) * kMlaLatentDim)[i] = v;
    else
      reinterpret_cast<uint4*>(a.rope + static_cast<int64_t>(p) * kMlaRopeDim)[i - kLatentChunks] = v;
  }
}

}  // namespace

void gather_latent_context(const LatentContextGather& a, cudaStream_t stream) {
  if (a.context <= 0) return;
  launch_dependent(gather_latent_context_kernel, dim3(a.context), dim3(64), 0, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

void mla_prefill(const MlaPrefillArgs& a, cudaStream_t stream) {
  if (a.rows <= 0) return;
  if (a.rows > a.context)
    throw Error("mla_prefill: " + std::to_string(a.rows) + " new rows in a context of " + std::to_string(a.context));
  static std::atomic<uint64_t> shared_set{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(mla_prefill_kernel), kSharedBytes, shared_set);
  const dim3 grid((a.rows + kRowsPerBlock - 1) / kRowsPerBlock, a.heads);
  launch_dependent(mla_prefill_kernel, grid, dim3(kThreads), kSharedBytes, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
