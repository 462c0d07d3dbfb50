// The experts' GEMMs of a step whose rows are already in expert order, with the groups read on the
// device (moe_group_by_expert's offsets and counts): no host round trip, so such steps can run as
// CUDA graphs.
//
// While experts have few rows each (decode at any batch size, short prefills) the step is bound by
// reading the experts' weights, so a block owns 128 output features of one expert and streams that
// weight slice through shared memory once for up to 64 of the expert's rows (a 4-stage cp.async
// pipeline), multiplying on the tensor cores with mma.sync m16n8k16 (bf16 in, fp32 accumulate).
// Experts with more rows take one more pass over the slice per 64 rows; long prefills are better
// served by moe_grouped_gemm_wide's output tiles (cuda_moe.cc picks).
#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

// One tile shape: kBlockN output features per block (16 per warp), up to kBlockM = 64 rows per
// pass over the weight slice (four m16 tiles), kBlockK deep stages, kStages of them in flight.
template <int kBlockN, int kBlockK, int kStages>
struct Tile {
  static constexpr int kBlockM = 64;
  static constexpr int kThreads = kBlockN / 16 * 32;
  // Shared-memory row pitch in bf16: 16 bytes past the row, so the 8 row addresses of an ldmatrix
  // fall in distinct banks while every 16-byte cp.async stays aligned.
  static constexpr int kPitch = kBlockK + 8;
  static constexpr int kStageElems = (kBlockN + kBlockM) * kPitch;
  static constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageElems * sizeof(bf16);
};

// grid (ceil(n / kBlockN), experts). y[r, :n] = x[r, :k] · W_e[:n, :k]^T for expert e's rows r.
template <int kBlockN, int kBlockK, int kStages>
__global__ void __launch_bounds__(Tile<kBlockN, kBlockK, kStages>::kThreads)
    moe_grouped_gemm_kernel(const bf16* x, const int32_t* x_rows, const int32_t* offsets, const int32_t* counts,
                            const bf16* const* weights, int64_t n, int64_t k, bf16* y) {
  begin_dependent_kernel();
  using T = Tile<kBlockN, kBlockK, kStages>;
  constexpr int kBlockM = T::kBlockM, kThreads = T::kThreads, kPitch = T::kPitch, kStageElems = T::kStageElems;
  const int expert = blockIdx.y;
  const int count = counts[expert];
  if (count == 0) return;
  const int64_t first_row = offsets[expert];
  const bf16* w = weights[expert];
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBlockN;

  extern __shared__ __align__(16) unsigned char shared[];
  bf16* stages = reinterpret_cast<bf16*>(shared);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int k_tiles = static_cast<int>((k + kBlockK - 1) / kBlockK);

  for (int m0 = 0; m0 < count; m0 += kBlockM) {
    const int m_rows = min(kBlockM, count - m0);
    const int m_tiles = (m_rows + 15) / 16;

    // Weight rows past n and input rows past the expert's are zero-filled, never read; so are
    // columns past k in the last tile.
    auto load_stage = [&](int stage, int tile) {
      bf16* ws = stages + stage * kStageElems;
      bf16* xs = ws + kBlockN * kPitch;
      const int64_t k0 = static_cast<int64_t>(tile) * kBlockK;
      for (int c = threadIdx.x; c < kBlockN * (kBlockK / 8); c += kThreads) {
        const int r = c / (kBlockK / 8), col = (c % (kBlockK / 8)) * 8;
        const bool valid = n0 + r < n && k0 + col < k;
        cp_async16(ws + r * kPitch + col, valid ? w + (n0 + r) * k + k0 + col : w, valid);
      }
      for (int c = threadIdx.x; c < m_tiles * 16 * (kBlockK / 8); c += kThreads) {
        const int r = c / (kBlockK / 8), col = (c % (kBlockK / 8)) * 8;
        const bool valid = r < m_rows && k0 + col < k;
        const int64_t group_row = first_row + m0 + r;
        const int64_t source = valid ? (x_rows ? x_rows[group_row] : group_row) : 0;
        cp_async16(xs + r * kPitch + col, valid ? x + source * k + k0 + col : x, valid);
      }
    };

    float acc[4][2][4] = {};
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) load_stage(s, s);
      cp_async_commit();
    }
    for (int tile = 0; tile < k_tiles; ++tile) {
      cp_async_wait<kStages - 2>();
      __syncthreads();
      // Refill the stage every warp finished reading in the previous iteration.
      if (const int next = tile + kStages - 1; next < k_tiles) load_stage(next % kStages, next);
      cp_async_commit();

      const bf16* ws = stages + (tile % kStages) * kStageElems;
      const bf16* xs = ws + kBlockN * kPitch;
#pragma unroll
      for (int kk = 0; kk < kBlockK; kk += 16) {
        // Two n8 tiles × two k halves of this warp's 16 features: b[0..1] and b[2..3].
        uint32_t b[4];
        ldmatrix_x4(b, ws + (warp * 16 + lane % 8 + (lane / 16) * 8) * kPitch + kk + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          if (mt < m_tiles) {
            uint32_t a[4];
            ldmatrix_x4(a, xs + (mt * 16 + lane % 16) * kPitch + kk + (lane / 16) * 8);
            mma_bf16(acc[mt][0], a, b[0], b[1]);
            mma_bf16(acc[mt][1], a, b[2], b[3]);
          }
        }
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next pass's first loads overwrite these stages

    store_warp_tiles(acc, m_rows, first_row + m0, n0 + warp * 16, n, y);
  }
}

// The tile shape the model runs: of 64 or 128 features, 64 or 128 deep, 2 to 4 stages, this read
// V2-Lite's experts fastest on the H200 at 6 and 24 rows each (75-78% of the copy bandwidth).
constexpr int kBlockN = 128, kBlockK = 64, kStages = 4;

}  // namespace

void moe_grouped_gemm(const bf16* x, const int32_t* x_rows, const int32_t* expert_offsets,
                      const int32_t* expert_counts, int experts, const bf16* const* weights, int64_t n, int64_t k,
                      bf16* y, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || experts <= 0) return;
  if (k % 8 != 0 || n % 2 != 0)
    throw Error("moe_grouped_gemm: k must be a multiple of 8 and n even (got n " + std::to_string(n) + ", k " +
                std::to_string(k) + ")");
  if (experts > 65535) throw Error("moe_grouped_gemm: at most 65535 experts (got " + std::to_string(experts) + ")");
  using T = Tile<kBlockN, kBlockK, kStages>;
  const auto kernel = moe_grouped_gemm_kernel<kBlockN, kBlockK, kStages>;
  static std::atomic<uint64_t> set_on{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(kernel), T::kSharedBytes, set_on);
  const dim3 grid(static_cast<unsigned>((n + kBlockN - 1) / kBlockN), static_cast<unsigned>(experts));
  launch_dependent(kernel, grid, T::kThreads, T::kSharedBytes, stream, x, x_rows, expert_offsets, expert_counts,
                   weights, n, k, y);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace tide::cuda
