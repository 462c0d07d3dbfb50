// moe_grouped_gemm with DeepSeek-V3's fp8 experts: e4m3 weights with a 128×128 block scale and
// e4m3 activations with a 1×128 block scale, multiplied on the tensor cores in fp8
// (mma.sync m16n8k32, fp32 accumulate) and never widened to bf16 in memory.
//
// The tiling is moe_grouped_gemm's: a block owns 128 output features of one expert (one weight
// scale row) and streams that slice of the weights through shared memory once per 64 of the
// expert's rows, 4 stages of cp.async in flight. A stage is 128 deep, exactly one scale block, so
// each stage's products are summed apart and added to the accumulators scaled by
// x_scale[row] · w_scale once the stage is done. Half the bytes of the bf16 kernel per weight: at
// the expert counts of decode and short prefills, where reading the weights is the bound, this
// is what fp8 buys.
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

constexpr int kBlockN = 128;  // output features per block: one weight scale row, 16 per warp
constexpr int kBlockM = 64;   // rows per pass over the weight slice (four m16 tiles)
constexpr int kBlockK = 128;  // e4m3 values per stage: one scale block
constexpr int kStages = 4;
constexpr int kThreads = kBlockN / 16 * 32;
// Row pitch in bytes: 16 past the row, so the 8 row addresses of an ldmatrix fall in distinct
// banks while every 16-byte cp.async stays aligned.
constexpr int kPitch = kBlockK + 16;
constexpr int kStageBytes = (kBlockN + kBlockM) * kPitch + kBlockM * static_cast<int>(sizeof(float));
constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageBytes;
// 16-byte chunks of a stage's input rows each thread copies.
constexpr int kInputChunksPerThread = kBlockM * (kBlockK / 16) / kThreads;
static_assert(kBlockM * (kBlockK / 16) % kThreads == 0);

__device__ __forceinline__ void mma_e4m3(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// grid (ceil(n / kBlockN), experts).
__global__ void __launch_bounds__(kThreads, 2)
    moe_grouped_gemm_fp8_kernel(const uint8_t* x, const float* x_scales, int64_t x_scale_stride, const int32_t* x_rows,
                                const int32_t* offsets, const int32_t* counts, const uint8_t* const* weights,
                                const float* const* weight_scales, int64_t n, int64_t k, bf16* y) {
  begin_dependent_kernel();
  const int expert = blockIdx.y;
  const int count = counts[expert];
  if (count == 0) return;
  const int64_t first_row = offsets[expert];
  const uint8_t* w = weights[expert];
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBlockN;
  const int k_tiles = static_cast<int>(k / kBlockK);
  const float* w_scale_row = weight_scales[expert] + (n0 / kBlockN) * k_tiles;

  extern __shared__ __align__(16) unsigned char shared[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int m0 = 0; m0 < count; m0 += kBlockM) {
    const int m_rows = min(kBlockM, count - m0);
    const int m_tiles = (m_rows + 15) / 16;

    // Where this thread's input chunks come from, looked up once per pass: read in every stage,
    // x_rows would put a dependent global load in front of each stage's copies.
    const uint8_t* x_chunk[kInputChunksPerThread];
    const float* x_chunk_scale[kInputChunksPerThread];
#pragma unroll
    for (int j = 0; j < kInputChunksPerThread; ++j) {
      const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 16), col = (c % (kBlockK / 16)) * 16;
      const int64_t group_row = first_row + m0 + r;
      const int64_t source = r < m_rows ? (x_rows ? x_rows[group_row] : group_row) : 0;
      x_chunk[j] = x + source * k + col;
      x_chunk_scale[j] = x_scales + source;
    }

    // Weight rows past n and input rows past the expert's are zero-filled, never read (their
    // scales too).
    auto load_stage = [&](int stage, int tile) {
      unsigned char* ws = shared + stage * kStageBytes;
      unsigned char* xs = ws + kBlockN * kPitch;
      float* ss = reinterpret_cast<float*>(xs + kBlockM * kPitch);
      const int64_t k0 = static_cast<int64_t>(tile) * kBlockK;
      for (int c = threadIdx.x; c < kBlockN * (kBlockK / 16); c += kThreads) {
        const int r = c / (kBlockK / 16), col = (c % (kBlockK / 16)) * 16;
        const bool valid = n0 + r < n;
        cp_async16(ws + r * kPitch + col, valid ? w + (n0 + r) * k + k0 + col : w, valid);
      }
#pragma unroll
      for (int j = 0; j < kInputChunksPerThread; ++j) {
        const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 16), col = (c % (kBlockK / 16)) * 16;
        if (r >= m_tiles * 16) continue;
        const bool valid = r < m_rows;
        cp_async16(xs + r * kPitch + col, x_chunk[j] + k0, valid);
        if (col == 0) cp_async4(ss + r, x_chunk_scale[j] + tile * x_scale_stride, valid);
      }
    };

    float acc[4][2][4] = {};
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) load_stage(s, s);
      cp_async_commit();
    }
    for (int tile = 0; tile < k_tiles; ++tile) {
      const float w_scale = w_scale_row[tile];
      cp_async_wait<kStages - 2>();
      __syncthreads();
      // Refill the stage every warp finished reading in the previous iteration.
      if (const int next = tile + kStages - 1; next < k_tiles) load_stage(next % kStages, next);
      cp_async_commit();

      const unsigned char* ws = shared + (tile % kStages) * kStageBytes;
      const unsigned char* xs = ws + kBlockN * kPitch;
      const float* ss = reinterpret_cast<const float*>(xs + kBlockM * kPitch);
      // This warp's 16 features for the whole stage (4 steps of 32): two n8 tiles × two 16-byte
      // k halves each, b[step][0..1] and b[step][2..3]. Held while each m16 tile of rows goes by,
      // so that only one tile's partial sums are live beside the accumulators (two blocks fit on
      // an SM).
      uint32_t b[kBlockK / 32][4];
#pragma unroll
      for (int step = 0; step < kBlockK / 32; ++step)
        ldmatrix_x4(b[step], ws + (warp * 16 + lane % 8 + (lane / 16) * 8) * kPitch + step * 32 + ((lane / 8) % 2) * 16);
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) {
        if (mt >= m_tiles) continue;
        float part[2][4] = {};
#pragma unroll
        for (int step = 0; step < kBlockK / 32; ++step) {
          uint32_t a[4];
          ldmatrix_x4(a, xs + (mt * 16 + lane % 16) * kPitch + step * 32 + (lane / 16) * 16);
          mma_e4m3(part[0], a, b[step][0], b[step][1]);
          mma_e4m3(part[1], a, b[step][2], b[step][3]);
        }
        // The stage's sums into the accumulators, each row at its own activation scale.
        const float s_lo = ss[mt * 16 + lane / 4] * w_scale, s_hi = ss[mt * 16 + lane / 4 + 8] * w_scale;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
          acc[mt][nt][0] = fmaf(part[nt][0], s_lo, acc[mt][nt][0]);
          acc[mt][nt][1] = fmaf(part[nt][1], s_lo, acc[mt][nt][1]);
          acc[mt][nt][2] = fmaf(part[nt][2], s_hi, acc[mt][nt][2]);
          acc[mt][nt][3] = fmaf(part[nt][3], s_hi, acc[mt][nt][3]);
        }
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next pass's first loads overwrite these stages

    store_warp_tiles(acc, m_rows, first_row + m0, n0 + warp * 16, n, y);
  }
}

}  // namespace

void moe_grouped_gemm_fp8(const uint8_t* x, const float* x_scales, int64_t x_scale_stride, const int32_t* x_rows,
                          const int32_t* expert_offsets, const int32_t* expert_counts, int experts,
                          const uint8_t* const* weights, const float* const* weight_scales, int64_t n, int64_t k,
                          bf16* y, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || experts <= 0) return;
  if (k % kBlockK != 0 || n % 2 != 0)
    throw Error("moe_grouped_gemm_fp8: k must be a multiple of 128 (the scale blocks) and n even (got n " +
                std::to_string(n) + ", k " + std::to_string(k) + ")");
  if (experts > 65535) throw Error("moe_grouped_gemm_fp8: at most 65535 experts (got " + std::to_string(experts) + ")");
  static std::atomic<uint64_t> set_on{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(moe_grouped_gemm_fp8_kernel), kSharedBytes, set_on);
  const dim3 grid(static_cast<unsigned>((n + kBlockN - 1) / kBlockN), static_cast<unsigned>(experts));
  launch_dependent(moe_grouped_gemm_fp8_kernel, grid, kThreads, kSharedBytes, stream, x, x_scales, x_scale_stride,
                   x_rows, expert_offsets, expert_counts, weights, weight_scales, n, k, y);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace tide::cuda
