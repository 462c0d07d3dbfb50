// moe_grouped_gemm for experts with many rows each (long prefills): every expert's rows in tiles
// of 128 rows × 256 output features, all experts in one launch, the groups read on the device.
//
// moe_grouped_gemm streams each weight slice once per 64 of an expert's rows, which is what
// decode wants (reading the weights is the bound) and what a prefill of hundreds of rows an
// expert does not: there the products are the bound. Here a block owns one output tile: two
// warpgroups of 64 rows each multiply through wgmma (bf16 in, fp32 accumulate), both operands
// K-major from 128-byte-swizzled shared memory, fed by a 4-stage cp.async ring, one tile's
// products still running while the next tile's start. Blocks of one row tile run side by side
// (the feature tile varies fastest), so an expert's rows and weights are read from HBM about once
// and from L2 after.
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

constexpr int kBlockM = 128, kBlockN = 256;
constexpr int kBlockK = 64;  // bf16: one 128-byte swizzled row
// Stages in the ring: tiles t+1..t+kStages-2 are landing while tile t's products run and tile
// t-1's may still be finishing (its stage is refilled only once both warpgroups are past it).
constexpr int kStages = 4;
constexpr int kThreads = 256;  // two warpgroups, 64 rows each
constexpr int kXTileBytes = kBlockM * kBlockK * 2, kWTileBytes = kBlockN * kBlockK * 2;
constexpr int kStageBytes = kXTileBytes + kWTileBytes;
constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageBytes + 1024;  // + room to align
// 16-byte chunks of each operand's tile a thread copies.
constexpr int kXChunksPerThread = kBlockM * (kBlockK / 8) / kThreads;
constexpr int kWChunksPerThread = kBlockN * (kBlockK / 8) / kThreads;
static_assert(kXChunksPerThread * kThreads == kBlockM * (kBlockK / 8) &&
              kWChunksPerThread * kThreads == kBlockN * (kBlockK / 8) && kStageBytes % 1024 == 0);

// The expert and first row (within it) of row tile `tile`, tiles counted over the experts in
// order; expert -1 past the last. One warp scans the counts 32 at a time.
__device__ void find_row_tile(const int32_t* counts, int experts, int tile, int* expert, int* first) {
  const int lane = threadIdx.x % 32;
  int before = 0;
  for (int base = 0; base < experts; base += 32) {
    const int e = base + lane;
    const int tiles = e < experts ? (counts[e] + kBlockM - 1) / kBlockM : 0;
    int inclusive = tiles;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const int v = __shfl_up_sync(0xffffffffu, inclusive, d);
      if (lane >= d) inclusive += v;
    }
    const unsigned hit = __ballot_sync(0xffffffffu, tile < before + inclusive && tile >= before + inclusive - tiles);
    if (hit) {
      const int owner = __ffs(hit) - 1;
      const int owner_start = __shfl_sync(0xffffffffu, before + inclusive - tiles, owner);
      *expert = base + owner;
      *first = (tile - owner_start) * kBlockM;
      return;
    }
    before += __shfl_sync(0xffffffffu, inclusive, 31);
  }
  *expert = -1;
  *first = 0;
}

// grid (ceil(n / kBlockN), an upper bound on the row tiles: rows / kBlockM + experts).
__global__ void __launch_bounds__(kThreads, 1)
    moe_grouped_gemm_wide_kernel(const bf16* x, const int32_t* x_rows, const int32_t* offsets, const int32_t* counts,
                                 int experts, const bf16* const* weights, int64_t n, int64_t k, bf16* y) {
  begin_dependent_kernel();
  extern __shared__ unsigned char shared_raw[];
  unsigned char* shared = align_1024(shared_raw);
  __shared__ int tile_expert, tile_first;
  if (threadIdx.x < 32) {
    int e, first;
    find_row_tile(counts, experts, blockIdx.y, &e, &first);
    if (threadIdx.x == 0) tile_expert = e, tile_first = first;
  }
  __syncthreads();
  const int expert = tile_expert;
  if (expert < 0) return;
  const int m0 = tile_first;
  const int m_rows = min(kBlockM, counts[expert] - m0);
  const int64_t first_row = offsets[expert] + m0;
  const bf16* w = weights[expert];
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBlockN;
  const int k_tiles = static_cast<int>((k + kBlockK - 1) / kBlockK);

  // This thread's chunks of each operand: rows past the expert's or past n, and columns past k,
  // are zero-filled, never read.
  const bf16* x_chunk[kXChunksPerThread];
  const bf16* w_chunk[kWChunksPerThread];
  bool x_valid[kXChunksPerThread], w_valid[kWChunksPerThread];
#pragma unroll
  for (int j = 0; j < kXChunksPerThread; ++j) {
    const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 8);
    x_valid[j] = r < m_rows;
    const int64_t source = x_valid[j] ? (x_rows ? x_rows[first_row + r] : first_row + r) : 0;
    x_chunk[j] = x + source * k + (c % (kBlockK / 8)) * 8;
  }
#pragma unroll
  for (int j = 0; j < kWChunksPerThread; ++j) {
    const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 8);
    w_valid[j] = n0 + r < n;
    w_chunk[j] = w + (w_valid[j] ? n0 + r : 0) * k + (c % (kBlockK / 8)) * 8;
  }
  // A thread's chunk j sits at the same place in every stage; its column is the same for all j.
  const int chunk = threadIdx.x % (kBlockK / 8);
  auto load_stage = [&](int stage, int tile) {
    unsigned char* xs = shared + stage * kStageBytes;
    unsigned char* ws = xs + kXTileBytes;
    const int64_t k0 = static_cast<int64_t>(tile) * kBlockK;
    const bool in_k = k0 + chunk * 8 < k;
#pragma unroll
    for (int j = 0; j < kXChunksPerThread; ++j) {
      const int r = (threadIdx.x + j * kThreads) / (kBlockK / 8);
      cp_async16(xs + swizzle128_offset(r, chunk), x_valid[j] && in_k ? x_chunk[j] + k0 : x, x_valid[j] && in_k);
    }
#pragma unroll
    for (int j = 0; j < kWChunksPerThread; ++j) {
      const int r = (threadIdx.x + j * kThreads) / (kBlockK / 8);
      cp_async16(ws + swizzle128_offset(r, chunk), w_valid[j] && in_k ? w_chunk[j] + k0 : w, w_valid[j] && in_k);
    }
  };

  const int group = threadIdx.x / 128;
  float acc[kBlockN / 2] = {};
#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    if (s < k_tiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int tile = 0; tile < k_tiles; ++tile) {
    cp_async_wait<kStages - 3>();  // tile's copies have landed
    fence_async_shared();          // this thread's copies, before the products read them
    __syncthreads();               // everyone's copies; both warpgroups past tile - 2's products
    if (const int next = tile + kStages - 2; next < k_tiles) load_stage(next % kStages, next);
    cp_async_commit();

    const unsigned char* xs = shared + (tile % kStages) * kStageBytes;
    const uint64_t a = swizzle128_descriptor(xs + group * (kXTileBytes / 2));  // this warpgroup's 64 rows
    const uint64_t b = swizzle128_descriptor(xs + kXTileBytes);
    wgmma_fence();
#pragma unroll
    for (int step = 0; step < kBlockK / 16; ++step)  // 32 bytes deeper: 2 in the descriptor
      wgmma_m64n256k16_bf16_ss(acc, a + 2 * step, b + 2 * step, true);
    wgmma_commit();
    wgmma_wait<1>();  // tile - 1's products are done: its stage may be refilled after the next barrier
  }
  wgmma_wait<0>();
  fence_accumulators(acc);
  cp_async_wait<0>();  // no copy may still be landing when the block exits

  // acc[4j + e]: row 64·group + 16·(warp % 4) + lane/4 + 8·(e / 2), feature 8j + 2(lane % 4) + e % 2.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = 64 * group + 16 * (warp % 4) + lane / 4 + 8 * half;
    if (r >= m_rows) continue;
    bf16* out = y + (first_row + r) * n + n0;
#pragma unroll
    for (int j = 0; j < kBlockN / 8; ++j) {
      const int64_t col = 8 * j + 2 * (lane % 4);
      if (n0 + col < n)
        *reinterpret_cast<__nv_bfloat162*>(out + col) = __floats2bfloat162_rn(acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1]);
    }
  }
}

}  // namespace

void moe_grouped_gemm_wide(const bf16* x, const int32_t* x_rows, const int32_t* expert_offsets,
                           const int32_t* expert_counts, int experts, int64_t rows, const bf16* const* weights,
                           int64_t n, int64_t k, bf16* y, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || experts <= 0 || rows <= 0) return;
  if (k % 8 != 0 || n % 2 != 0)
    throw Error("moe_grouped_gemm_wide: k must be a multiple of 8 and n even (got n " + std::to_string(n) + ", k " +
                std::to_string(k) + ")");
  const int64_t row_tiles = rows / kBlockM + experts;
  if (row_tiles > 65535)
    throw Error("moe_grouped_gemm_wide: at most " + std::to_string((65535 - experts) * kBlockM) + " rows (got " +
                std::to_string(rows) + ")");
  static std::atomic<uint64_t> set_on{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(moe_grouped_gemm_wide_kernel), kSharedBytes, set_on);
  const dim3 grid(static_cast<unsigned>((n + kBlockN - 1) / kBlockN), static_cast<unsigned>(row_tiles));
  launch_dependent(moe_grouped_gemm_wide_kernel, grid, kThreads, kSharedBytes, stream, x, x_rows, expert_offsets,
                   expert_counts, experts, weights, n, k, y);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace tide::cuda
