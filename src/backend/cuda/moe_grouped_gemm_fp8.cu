// moe_grouped_gemm with DeepSeek-V3's fp8 experts: e4m3 weights with a 128×128 block scale and
// e4m3 activations with a 1×128 block scale, multiplied in fp8 on the tensor cores through
// wgmma (fp32 accumulate), never widened to bf16 in memory. The same kernel runs the dense fp8
// products: one matrix read by every 64-row group (gemm_fp8_blocks), or one matrix per entry of a
// batch at strides (gemm_fp8_batched: MLA's per-head products through an fp8 kv_b_proj).
//
// A block (one warpgroup) owns 128 output features of one expert (one weight scale row) and
// streams that slice of the weights through shared memory once per 64 of the expert's rows
// through a 4-stage cp.async ring (3 tiles ahead). The products run with the operands swapped: the weights are
// the M side (two m64 products of 64 features), the expert's rows the N side (n64; rows past
// the expert's are never copied and their columns never stored), so that a handful of rows an
// expert costs no more than 64. A stage is 128 deep, exactly one scale block: its four k32
// products go into a partial tile, added to the accumulators at x_scale[row] · w_scale once the
// stage is done. Half the bytes of the bf16 kernel per weight: at the expert counts of decode
// and short prefills, where reading the weights is the bound, this is what fp8 buys.
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

constexpr int kBlockN = 128;  // output features per block: one weight scale row, two m64 products
constexpr int kRows = 64;     // expert rows per pass over the weight slice: the products' n
constexpr int kBlockK = 128;  // e4m3 values per stage: one scale block, one 128-byte swizzled row
constexpr int kStages = 4;
constexpr int kThreads = 128;  // one warpgroup
constexpr int kWeightTileBytes = kBlockN * kBlockK;
constexpr int kStageBytes = kWeightTileBytes + kRows * kBlockK;  // a multiple of 1024: tiles stay aligned
constexpr std::size_t kSharedBytes =
    std::size_t{kStages} * kStageBytes + kStages * kRows * sizeof(float) + 1024;  // + room to align
// 16-byte chunks of a stage's weights and input rows each thread copies.
constexpr int kWeightChunksPerThread = kBlockN * (kBlockK / 16) / kThreads;
constexpr int kInputChunksPerThread = kRows * (kBlockK / 16) / kThreads;
static_assert(kStageBytes % 1024 == 0 && kInputChunksPerThread * kThreads == kRows * (kBlockK / 16));

// Where the operands lie. The experts' form (w null): each group is an expert, its rows gathered
// through x_rows, x and y dense. The dense forms: each entry of a batch (blockIdx.z) has its own
// matrix and rows at fixed strides, group g being its rows kRows·g.. (gemm_fp8_blocks, one entry;
// gemm_fp8_batched).
struct Layout {
  const uint8_t* w = nullptr;
  const float* w_scales = nullptr;
  int64_t rows = 0;                     // per entry
  int64_t w_batch = 0, w_scale_batch = 0;
  int64_t x_ld = 0, x_batch = 0;        // e4m3 elements
  int64_t x_scale_ld = 1, x_scale_block = 0, x_scale_batch = 0;
  int64_t y_ld = 0, y_batch = 0;
};

// grid (ceil(n / kBlockN), experts), or (ceil(n / kBlockN), ceil(rows / kRows), batch) dense.
__global__ void __launch_bounds__(kThreads, 2)
    moe_grouped_gemm_fp8_kernel(const uint8_t* x, const float* x_scales, const int32_t* x_rows, const int32_t* offsets,
                                const int32_t* counts, const uint8_t* const* weights,
                                const float* const* weight_scales, int64_t n, int64_t k, bf16* y, Layout at) {
  begin_dependent_kernel();
  const int group = blockIdx.y;
  const bool dense = at.w != nullptr;
  const int64_t first_row = dense ? int64_t{group} * kRows : offsets[group];
  const int count = dense ? static_cast<int>(min(int64_t{kRows}, at.rows - first_row)) : counts[group];
  if (count == 0) return;
  const int64_t entry = blockIdx.z;
  x += entry * at.x_batch;
  x_scales += entry * at.x_scale_batch;
  y += entry * at.y_batch;
  const uint8_t* w = dense ? at.w + entry * at.w_batch : weights[group];
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kBlockN;
  const int k_tiles = static_cast<int>(k / kBlockK);
  const float* w_scale_row =
      (dense ? at.w_scales + entry * at.w_scale_batch : weight_scales[group]) + (n0 / kBlockN) * k_tiles;

  extern __shared__ unsigned char shared_raw[];
  unsigned char* shared = align_1024(shared_raw);
  float* stage_scales = reinterpret_cast<float*>(shared + kStages * kStageBytes);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int m0 = 0; m0 < count; m0 += kRows) {
    const int m_rows = min(kRows, count - m0);

    // Where this thread's input chunks come from, looked up once per pass: read in every stage,
    // x_rows would put a dependent global load in front of each stage's copies.
    const uint8_t* x_chunk[kInputChunksPerThread];
    const float* x_chunk_scale[kInputChunksPerThread];
#pragma unroll
    for (int j = 0; j < kInputChunksPerThread; ++j) {
      const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 16), col = (c % (kBlockK / 16)) * 16;
      const int64_t group_row = first_row + m0 + r;
      const int64_t source = r < m_rows ? (x_rows ? x_rows[group_row] : group_row) : 0;
      x_chunk[j] = x + source * at.x_ld + col;
      x_chunk_scale[j] = x_scales + source * at.x_scale_ld;
    }

    // Weight rows past n are zero-filled, never read. Input rows past the expert's are not
    // copied at all: whatever the stage holds there (even e4m3 NaN patterns) only feeds output
    // columns that are never stored.
    auto load_stage = [&](int stage, int tile) {
      unsigned char* ws = shared + stage * kStageBytes;
      unsigned char* xs = ws + kWeightTileBytes;
      float* ss = stage_scales + stage * kRows;
      const int64_t k0 = static_cast<int64_t>(tile) * kBlockK;
#pragma unroll
      for (int j = 0; j < kWeightChunksPerThread; ++j) {
        const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 16), chunk = c % (kBlockK / 16);
        const bool valid = n0 + r < n;
        cp_async16(ws + swizzle128_offset(r, chunk), valid ? w + (n0 + r) * k + k0 + chunk * 16 : w, valid);
      }
#pragma unroll
      for (int j = 0; j < kInputChunksPerThread; ++j) {
        const int c = threadIdx.x + j * kThreads, r = c / (kBlockK / 16), chunk = c % (kBlockK / 16);
        if (r >= m_rows) continue;
        cp_async16(xs + swizzle128_offset(r, chunk), x_chunk[j] + k0, true);
        if (chunk == 0) cp_async4(ss + r, x_chunk_scale[j] + tile * at.x_scale_block, true);
      }
    };

    float acc[2][32] = {};
    float part[2][32];
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) load_stage(s, s);
      cp_async_commit();
    }
    for (int tile = 0; tile < k_tiles; ++tile) {
      const float w_scale = w_scale_row[tile];
      cp_async_wait<kStages - 2>();
      fence_async_shared();  // this thread's copies, before the products read them
      __syncthreads();
      // Refill the stage whose products completed in the previous iteration.
      if (const int next = tile + kStages - 1; next < k_tiles) load_stage(next % kStages, next);
      cp_async_commit();

      const unsigned char* ws = shared + (tile % kStages) * kStageBytes;
      const uint64_t w_lo = swizzle128_descriptor(ws), w_hi = swizzle128_descriptor(ws + 64 * kBlockK);
      const uint64_t xd = swizzle128_descriptor(ws + kWeightTileBytes);
      fence_accumulators(part[0]);
      fence_accumulators(part[1]);
      wgmma_fence();
#pragma unroll
      for (int step = 0; step < kBlockK / 32; ++step) {  // 32 bytes deeper: 2 in the descriptor
        wgmma_m64n64k32_e4m3(part[0], w_lo + 2 * step, xd + 2 * step, step > 0);
        wgmma_m64n64k32_e4m3(part[1], w_hi + 2 * step, xd + 2 * step, step > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();
      fence_accumulators(part[0]);
      fence_accumulators(part[1]);

      // The stage's sums into the accumulators, each row (a column here) at its own activation
      // scale.
      const float* ss = stage_scales + (tile % kStages) * kRows;
#pragma unroll
      for (int j = 0; j < kRows / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float scale = ss[8 * j + 2 * (lane % 4) + e] * w_scale;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            acc[h][4 * j + e] = fmaf(part[h][4 * j + e], scale, acc[h][4 * j + e]);
            acc[h][4 * j + 2 + e] = fmaf(part[h][4 * j + 2 + e], scale, acc[h][4 * j + 2 + e]);
          }
        }
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next pass's first loads overwrite these stages

    // acc[h] holds features n0 + 64h + 16·warp + lane/4 (+8) of rows 8j + 2(lane%4) (+1).
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t feature = n0 + 64 * h + 16 * warp + lane / 4 + 8 * half;
        if (feature >= n) continue;
#pragma unroll
        for (int j = 0; j < kRows / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int r = 8 * j + 2 * (lane % 4) + e;
            if (r < m_rows) y[(first_row + m0 + r) * at.y_ld + feature] = __float2bfloat16(acc[h][4 * j + 2 * half + e]);
          }
        }
      }
    }
  }
}

void launch(const char* what, const uint8_t* x, const float* x_scales, const int32_t* x_rows, const int32_t* offsets,
            const int32_t* counts, int64_t groups, int64_t batch, const uint8_t* const* weights,
            const float* const* weight_scales, int64_t n, int64_t k, bf16* y, const Layout& at, cudaStream_t stream) {
  if (k % kBlockK != 0 || n % 2 != 0)
    throw Error(std::string(what) + ": k must be a multiple of 128 (the scale blocks) and n even (got n " +
                std::to_string(n) + ", k " + std::to_string(k) + ")");
  if (groups > 65535 || batch > 65535 || (n + kBlockN - 1) / kBlockN > 0x7fffffff)
    throw Error(std::string(what) + ": too many " + (at.w ? "rows, batch entries" : "experts") +
                " or features for one grid");
  static std::atomic<uint64_t> set_on{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(moe_grouped_gemm_fp8_kernel), kSharedBytes, set_on);
  const dim3 grid(static_cast<unsigned>((n + kBlockN - 1) / kBlockN), static_cast<unsigned>(groups),
                  static_cast<unsigned>(batch));
  launch_dependent(moe_grouped_gemm_fp8_kernel, grid, kThreads, kSharedBytes, stream, x, x_scales, x_rows, offsets,
                   counts, weights, weight_scales, n, k, y, at);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void moe_grouped_gemm_fp8(const uint8_t* x, const float* x_scales, int64_t x_scale_stride, const int32_t* x_rows,
                          const int32_t* expert_offsets, const int32_t* expert_counts, int experts,
                          const uint8_t* const* weights, const float* const* weight_scales, int64_t n, int64_t k,
                          bf16* y, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || experts <= 0) return;
  launch("moe_grouped_gemm_fp8", x, x_scales, x_rows, expert_offsets, expert_counts, experts, 1, weights,
         weight_scales, n, k, y, Layout{.x_ld = k, .x_scale_block = x_scale_stride, .y_ld = n}, stream);
}

void gemm_fp8_blocks(const uint8_t* x, const float* x_scales, int64_t rows, const uint8_t* w, const float* w_scales,
                     int64_t n, int64_t k, bf16* y, cudaStream_t stream) {
  gemm_fp8_batched({.x = x, .x_scales = x_scales, .x_ld = k, .x_scale_block = rows, .w = w, .w_scales = w_scales,
                    .y = y, .y_ld = n, .rows = rows, .out = n, .in = k},
                   stream);
}

void gemm_fp8_batched(const Fp8BatchedGemm& g, cudaStream_t stream) {
  if (g.rows <= 0 || g.out <= 0 || g.in <= 0 || g.batch <= 0) return;
  if (!g.w || !g.w_scales || !g.x_scales)
    throw Error("gemm_fp8_batched: the weights, their scales or the rows' scales are missing");
  // 16-byte copies of the e4m3 rows; the scales are read 4 bytes at a time.
  if (!aligned16(g.x) || !aligned16(g.w) || g.x_ld % 16 != 0 || g.x_batch_stride % 16 != 0 ||
      g.w_batch_stride % 16 != 0 || g.x_ld < g.in || g.y_ld < g.out)
    throw Error("gemm_fp8_batched: x and W need 16-byte aligned rows and entries, and the leading dimensions must "
                "hold a row (x_ld " + std::to_string(g.x_ld) + ", y_ld " + std::to_string(g.y_ld) + ", in " +
                std::to_string(g.in) + ", out " + std::to_string(g.out) + ")");
  launch("gemm_fp8_batched", g.x, g.x_scales, nullptr, nullptr, nullptr, (g.rows + kRows - 1) / kRows, g.batch,
         nullptr, nullptr, g.out, g.in, g.y,
         Layout{.w = g.w, .w_scales = g.w_scales, .rows = g.rows, .w_batch = g.w_batch_stride,
                .w_scale_batch = g.w_scale_batch_stride, .x_ld = g.x_ld, .x_batch = g.x_batch_stride,
                .x_scale_ld = g.x_scale_ld, .x_scale_block = g.x_scale_block, .x_scale_batch = g.x_scale_batch_stride,
                .y_ld = g.y_ld, .y_batch = g.y_batch_stride},
         stream);
}

}  // namespace tide::cuda
