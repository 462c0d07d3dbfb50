// Batched matrix transposes, run at load (MLA's W_UK[h]ᵀ from an fp8 kv_b_proj: the absorption
// contracts over W_UK's rows, and the fp8 products take their operands depth-contiguous). A
// 32×32 tile through shared memory so that both the reads and the writes are coalesced; a
// column of padding keeps the transposed reads off one bank.
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "common/error.h"

namespace tide::cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRowsPerPass = 8;  // a block is 32 × 8 threads, each moving 4 elements

// grid (column tiles, row tiles, batch)
template <typename T>
__global__ void transpose_kernel(const T* in, int64_t rows, int64_t cols, int64_t batch_stride, T* out) {
  begin_dependent_kernel();
  __shared__ T tile[kTile][kTile + 1];
  const int64_t b = blockIdx.z, r0 = static_cast<int64_t>(blockIdx.y) * kTile, c0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const T* src = in + b * batch_stride;
  T* dst = out + b * rows * cols;
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass)
    if (r0 + i < rows && c0 + threadIdx.x < cols) tile[i][threadIdx.x] = src[(r0 + i) * cols + c0 + threadIdx.x];
  __syncthreads();
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass)
    if (c0 + i < cols && r0 + threadIdx.x < rows) dst[(c0 + i) * rows + r0 + threadIdx.x] = tile[threadIdx.x][i];
}

template <typename T>
void transpose(const T* in, int64_t rows, int64_t cols, int64_t batch_stride, int64_t batch, T* out,
               cudaStream_t stream) {
  if (rows <= 0 || cols <= 0 || batch <= 0) return;
  const bool in_place = static_cast<const void*>(in) == static_cast<const void*>(out);
  if (in_place || batch_stride < rows * cols || batch > 65535 || (rows + kTile - 1) / kTile > 65535 ||
      (cols + kTile - 1) / kTile > 0x7fffffff)
    throw Error("transpose_matrices: not in place, and the matrices may not overlap (batch stride " +
                std::to_string(batch_stride) + ", " + std::to_string(rows) + " × " + std::to_string(cols) +
                ") nor be too many for one grid");
  const dim3 grid(static_cast<unsigned>((cols + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile),
                  static_cast<unsigned>(batch));
  launch_dependent(transpose_kernel<T>, grid, dim3(kTile, kRowsPerPass), 0, stream, in, rows, cols, batch_stride, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void transpose_matrices(const uint8_t* in, int64_t rows, int64_t cols, int64_t batch_stride, int64_t batch,
                        uint8_t* out, cudaStream_t stream) {
  transpose(in, rows, cols, batch_stride, batch, out, stream);
}

void transpose_matrices(const float* in, int64_t rows, int64_t cols, int64_t batch_stride, int64_t batch, float* out,
                        cudaStream_t stream) {
  transpose(in, rows, cols, batch_stride, batch, out, stream);
}

}  // namespace tide::cuda
