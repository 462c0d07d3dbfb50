#pragma once
// The causal flash-attention block shared by the prefill kernels (mla_prefill.cu: MLA's expanded
// form; gqa_prefill.cu: grouped-query attention over the paged cache): one sequence's new rows
// attend causally over its whole context.
//   - a block is two warpgroups and 128 query rows of one head, each warpgroup 64 rows; the
//     query's fragments stay in registers for the whole context;
//   - keys and values come in tiles of 64 positions through a four-stage cp.async ring, stored
//     in the 128-byte swizzle the tensor cores read: keys K-major (kQk / 64 panels of 64 dims),
//     values MN-major (two panels of 64 dims);
//   - S = Q·Kᵀ and O += P·V are Hopper's warpgroup products (wgmma, bf16 in, fp32 accumulate):
//     Q and P from registers, K and V straight from shared memory, so no warp copies a key or
//     value fragment into registers; the softmax runs online in registers (the S accumulators
//     become P's fragments in place), one warpgroup's softmax beside the other's products;
//   - blocks of the latest rows, which see the most context, start first.
// Where the operands live is the Operands class's business:
//   static constexpr int kQk, kV;        key width (a multiple of 64), value width (128)
//   int rows, context; float scale;      row i sits at position context - rows + i
//   uint32_t query_pair(row, head, dim)  dims dim and dim + 1 of the row's query, packed bf16
//   const bf16* key_chunk(head, p, c)    8 dims of position p's key from 8c
//   const bf16* value_chunk(head, p, c)  8 dims of position p's value from 8c
//   bf16* out(row, head)                 where the row's kV outputs go
#include <cuda_bf16.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/wgmma.cuh"

namespace tide::cuda::flash_prefill {

constexpr int kWarpGroups = 2, kThreads = kWarpGroups * 128;
constexpr int kRowsPerGroup = 64, kRowsPerBlock = kWarpGroups * kRowsPerGroup;
constexpr int kKeysPerTile = 64;
// Stages in the ring: tiles t+1 and t+2 land while tile t is attended and tile t-1's P·V may
// still be running (its stage is refilled only once both warpgroups are past it).
constexpr int kStages = 4;
// A panel: 64 positions × 64 dims of bf16 (128 bytes a row) in the 128-byte swizzle.
constexpr int kPanelBytes = kKeysPerTile * 128;
constexpr float kLog2e = 1.4426950408889634f;

template <class Operands>
struct Layout {
  static constexpr int kQk = Operands::kQk, kV = Operands::kV;
  static constexpr int kKeyPanels = kQk / 64, kValuePanels = kV / 64;
  static constexpr int kStageBytes = (kKeyPanels + kValuePanels) * kPanelBytes;
  static constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageBytes + 1024;  // + room to align
  static_assert(kQk % 64 == 0 && kV == 128 && kStageBytes % 1024 == 0);
};

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

// The key tile `tile` (positions tile·64..+63) into one stage: each position's key as a row of
// the key panels, its value as a row of the value panels. Positions past the context are
// zero-filled, so that a masked key's value contributes 0·0, never 0·garbage.
template <class Operands>
__device__ __forceinline__ void load_tile(const Operands& a, int head, int tile, unsigned char* stage) {
  using L = Layout<Operands>;
  copy_tile_rows<L::kQk / 8>(stage, tile, a.context, [&](int64_t p, int chunk) { return a.key_chunk(head, p, chunk); });
  copy_tile_rows<L::kV / 8>(stage + L::kKeyPanels * kPanelBytes, tile, a.context,
                            [&](int64_t p, int chunk) { return a.value_chunk(head, p, chunk); });
}

// The block's rows of one head; grid (ceil(rows / 128), heads), kThreads threads,
// Layout<Operands>::kSharedBytes of dynamic shared memory (shared_raw). Call after the kernel's
// wait.
template <class Operands>
__device__ __forceinline__ void attend_block(const Operands& a, unsigned char* shared_raw) {
  using L = Layout<Operands>;
  constexpr int kQk = L::kQk, kV = L::kV, kKeyPanels = L::kKeyPanels, kStageBytes = L::kStageBytes;
  unsigned char* shared = align_1024(shared_raw);

  const int head = blockIdx.y;
  const int block_row = (gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;  // the latest rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the fragment's row group and column pair
  const int start = a.context - a.rows;  // the new rows' first position
  const int group_row = block_row + (warp / 4) * kRowsPerGroup;
  const int warp_row = group_row + (warp % 4) * 16;

  // This warp's query rows as A fragments over the kQk dims (steps of 16), zero past the rows.
  uint32_t qa[kQk / 16][4];
#pragma unroll
  for (int ks = 0; ks < kQk / 16; ++ks)
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // a0/a1: dims 2t, 2t+1; a2/a3: dims 2t+8, 2t+9
      const int dim = ks * 16 + half * 8 + 2 * t;
#pragma unroll
      for (int up = 0; up < 2; ++up) {  // rows g and g+8
        const int row = warp_row + g + up * 8;
        qa[ks][half * 2 + up] = row < a.rows ? a.query_pair(row, head, dim) : 0u;
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

    // S = Q·Kᵀ over steps of 16 dims: 32 bytes deeper into a key panel each (2 in the
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
    bf16* out = a.out(row, head);
#pragma unroll
    for (int j = 0; j < kV / 8; ++j)
      *reinterpret_cast<__nv_bfloat162*>(out + j * 8 + 2 * t) =
          __floats2bfloat162_rn(o[4 * j + up * 2] * inv, o[4 * j + up * 2 + 1] * inv);
  }
}

// Launches `kernel` (a kernel that waits, then calls attend_block) over the operands' rows
// and `heads` heads, with the shared memory its Layout needs (allowed once per kernel).
template <class Operands>
void launch(void (*kernel)(Operands), const Operands& a, int heads, cudaStream_t stream) {
  constexpr std::size_t bytes = Layout<Operands>::kSharedBytes;
  static std::atomic<uint64_t> shared_set{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(kernel), bytes, shared_set);
  const dim3 grid((a.rows + kRowsPerBlock - 1) / kRowsPerBlock, heads);
  launch_dependent(kernel, grid, dim3(kThreads), bytes, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda::flash_prefill
