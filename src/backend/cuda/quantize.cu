// Activations to fp8 e4m3 in 1×128 blocks, DeepSeek-V3's scheme for the inputs of its fp8 GEMMs:
// each 128 consecutive features of a token share one fp32 scale, amax / 448 (448 being e4m3's
// largest finite value), so every block uses the whole fp8 range. One warp per block: each lane
// loads 4 bf16 (8 bytes, the warp 256 contiguous bytes), a shuffle reduction finds the amax, and
// each lane stores its 4 bytes. Memory-bound: 2 bytes read, 1 written per element.
// Both kernels can write padded_rows ≥ n rows: the rows from n on are what zero rows quantize to, so
// that a GEMM that takes whole tiles of rows (cuBLASLt's block-scaled fp8 takes multiples of 16)
// reads a defined operand, and the scales' layout has padded_rows as its stride.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/fp8_block.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/swiglu.cuh"
#include "common/error.h"

namespace tide::cuda {
namespace {

constexpr int kBlock = 128;

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Packs 4 values to e4m3 with their block's scale, after finding the block's amax across the warp.
__device__ __forceinline__ uint32_t quantize_lane(const float (&f)[4], float& scale) {
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) amax = fmaxf(amax, fabsf(f[i]));
  amax = warp_max(amax);
  scale = fp8_block_scale(amax);
  return pack_e4m3x4(f, 1.f / scale);
}

// A padding row's block: what a block of zeros quantizes to.
__device__ __forceinline__ void write_padding(uint8_t* q, float* scales, int64_t scale_at, int lane) {
  *reinterpret_cast<uint32_t*>(q) = 0u;
  if (lane == 0) scales[scale_at] = fp8_block_scale(0.f);
}

__global__ void quantize_fp8_blocks_kernel(QuantizeRows x, int64_t n, int64_t padded_rows, int64_t k, uint8_t* q,
                                           float* scales) {
  begin_dependent_kernel();
  const int64_t blocks_per_row = k / kBlock, total = padded_rows * blocks_per_row;
  const int lane = threadIdx.x % 32;
  for (int64_t b = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32; b < total;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x / 32) {
    const int64_t row = b / blocks_per_row, kb = b % blocks_per_row;
    const int64_t offset = row * k + kb * kBlock + lane * 4;
    if (row >= n) {
      write_padding(q + offset, scales, kb * padded_rows + row, lane);
      continue;
    }
    const bf16* source = x.x + (row / x.group_rows) * x.group_stride + (row % x.group_rows) * x.row_stride;
    const uint2 raw = *reinterpret_cast<const uint2*>(source + kb * kBlock + lane * 4);
    const bf16* v = reinterpret_cast<const bf16*>(&raw);
    float f[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) f[i] = __bfloat162float(v[i]);
    float scale;
    const uint32_t packed = quantize_lane(f, scale);
    *reinterpret_cast<uint32_t*>(q + offset) = packed;
    if (lane == 0) scales[kb * padded_rows + row] = scale;  // block-major: [k / 128][padded_rows]
  }
}

// SiLU·mul and the quantization of its output in one pass: the expert's down projection gets its
// fp8 input without the bf16 intermediate being written and read again (4 bytes read and 1
// written per output, against 4 + 2 then 2 + 1 for the two kernels). Each product is rounded to
// bf16 before the block's amax is taken, so the result is bit for bit that of silu_mul followed
// by quantize_fp8_blocks (DeepSeek's reference quantizes the bf16 activation the same way).
__global__ void silu_mul_quantize_fp8_kernel(const bf16* gate_up, int64_t n, int64_t padded_rows, int64_t inter,
                                             uint8_t* q, float* scales) {
  begin_dependent_kernel();
  const int64_t blocks_per_row = inter / kBlock, total = padded_rows * blocks_per_row;
  const int lane = threadIdx.x % 32;
  for (int64_t b = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32; b < total;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x / 32) {
    const int64_t row = b / blocks_per_row, kb = b % blocks_per_row;
    const int64_t col = kb * kBlock + lane * 4;
    if (row >= n) {
      write_padding(q + row * inter + col, scales, kb * padded_rows + row, lane);
      continue;
    }
    const uint2 g2 = *reinterpret_cast<const uint2*>(gate_up + row * 2 * inter + col);
    const uint2 u2 = *reinterpret_cast<const uint2*>(gate_up + row * 2 * inter + inter + col);
    const bf16* g = reinterpret_cast<const bf16*>(&g2);
    const bf16* u = reinterpret_cast<const bf16*>(&u2);
    float f[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      f[i] = __bfloat162float(swiglu(g[i], u[i]));
    float scale;
    const uint32_t packed = quantize_lane(f, scale);
    *reinterpret_cast<uint32_t*>(q + row * inter + col) = packed;
    if (lane == 0) scales[kb * padded_rows + row] = scale;  // block-major: [inter / 128][padded_rows]
  }
}

int64_t quantize_grid(int64_t warps, int threads) {
  return std::min<int64_t>((warps * 32 + threads - 1) / threads, 65535);
}

}  // namespace

void silu_mul_quantize_fp8_blocks(const bf16* gate_up, int64_t n, int64_t inter, uint8_t* q, float* scales,
                                  int64_t padded_rows, cudaStream_t stream) {
  if (n <= 0) return;
  if (inter <= 0 || inter % kBlock != 0)
    throw Error("silu_mul_quantize_fp8_blocks: the expert width must be a positive multiple of 128 (got " +
                std::to_string(inter) + ")");
  if (padded_rows < n) throw Error("silu_mul_quantize_fp8_blocks: padded_rows is below the row count");
  if (reinterpret_cast<uintptr_t>(gate_up) % 8 != 0 || reinterpret_cast<uintptr_t>(q) % 4 != 0)
    throw Error("silu_mul_quantize_fp8_blocks: gate_up must be 8-byte and q 4-byte aligned");
  const int threads = 256;
  const int64_t grid = quantize_grid(padded_rows * (inter / kBlock), threads);
  launch_dependent(silu_mul_quantize_fp8_kernel, static_cast<unsigned>(grid), threads, 0, stream, gate_up, n,
                   padded_rows, inter, q, scales);
  TIDE_CUDA_CHECK_LAUNCH();
}

void quantize_fp8_blocks(const bf16* x, int64_t n, int64_t k, uint8_t* q, float* scales, int64_t padded_rows,
                         cudaStream_t stream) {
  quantize_fp8_blocks(QuantizeRows{.x = x, .row_stride = k, .group_rows = 1, .group_stride = k}, n, k, q, scales,
                      padded_rows, stream);
}

void quantize_fp8_blocks(const QuantizeRows& x, int64_t n, int64_t k, uint8_t* q, float* scales, int64_t padded_rows,
                         cudaStream_t stream) {
  if (n <= 0) return;
  if (k <= 0 || k % kBlock != 0)
    throw Error("quantize_fp8_blocks: the row length must be a positive multiple of 128 (got " + std::to_string(k) + ")");
  if (padded_rows < n) throw Error("quantize_fp8_blocks: padded_rows is below the row count");
  if (x.group_rows < 1 || x.row_stride % 4 != 0 || x.group_stride % 4 != 0 ||
      reinterpret_cast<uintptr_t>(x.x) % 8 != 0)
    throw Error("quantize_fp8_blocks: the rows must start 8-byte aligned (strides multiples of 4 elements)");
  const int threads = 256;
  const int64_t grid = quantize_grid(padded_rows * (k / kBlock), threads);
  launch_dependent(quantize_fp8_blocks_kernel, static_cast<unsigned>(grid), threads, 0, stream, x, n, padded_rows, k,
                   q, scales);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
