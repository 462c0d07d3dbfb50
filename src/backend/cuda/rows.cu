// Row copies by index: the embedding lookup, the MoE permutation and the cache write are all
// "copy row i to row j". One warp per row; rows whose length and strides are multiples of 8
// bf16 with 16-byte aligned bases move 16 bytes per lane per access. And a bias added to every
// row (Qwen2's q/k/v projections).
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // one warp each

template <typename Unit, bool kGather>
__global__ void copy_rows_kernel(const bf16* src, int64_t src_stride, const int32_t* indices, int64_t n, int64_t units,
                                 bf16* dst, int64_t dst_stride) {
  begin_dependent_kernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (i >= n) return;
  const int64_t from = kGather ? indices[i] : i;
  const int64_t to = kGather ? i : indices[i];
  const Unit* s = reinterpret_cast<const Unit*>(src + from * src_stride);
  Unit* d = reinterpret_cast<Unit*>(dst + to * dst_stride);
  for (int64_t c = threadIdx.x % 32; c < units; c += 32) d[c] = s[c];
}

bool vectorizable(const void* a, const void* b, int64_t dim, int64_t sa, int64_t sb) {
  return reinterpret_cast<uintptr_t>(a) % 16 == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0 && dim % 8 == 0 &&
         sa % 8 == 0 && sb % 8 == 0;
}

template <bool kGather>
void copy_rows(const bf16* src, int64_t src_stride, const int32_t* indices, int64_t n, int64_t dim, bf16* dst,
               int64_t dst_stride, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock);
  if (vectorizable(src, dst, dim, src_stride, dst_stride))
    launch_dependent(copy_rows_kernel<uint4, kGather>, blocks, kRowsPerBlock * 32, 0, stream, src, src_stride, indices,
                     n, dim / 8, dst, dst_stride);
  else
    launch_dependent(copy_rows_kernel<bf16, kGather>, blocks, kRowsPerBlock * 32, 0, stream, src, src_stride, indices,
                     n, dim, dst, dst_stride);
  TIDE_CUDA_CHECK_LAUNCH();
}

// One thread per element, rows of dim.
__global__ void add_bias_rows_kernel(bf16* y, int64_t n, int64_t dim, const float* bias) {
  begin_dependent_kernel();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * dim) return;
  y[i] = __float2bfloat16(__bfloat162float(y[i]) + bias[i % dim]);
}

}  // namespace

void add_bias_rows(bf16* y, int64_t n, int64_t dim, const float* bias, cudaStream_t stream) {
  if (n <= 0 || dim <= 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = (n * dim + kThreads - 1) / kThreads;
  if (blocks > int64_t{0x7fffffff}) throw Error("add_bias_rows: " + std::to_string(n * dim) + " elements is too many");
  launch_dependent(add_bias_rows_kernel, static_cast<unsigned>(blocks), kThreads, 0, stream, y, n, dim, bias);
  TIDE_CUDA_CHECK_LAUNCH();
}

void gather_rows(const bf16* src, int64_t src_stride, const int32_t* indices, int64_t n, int64_t dim, bf16* dst,
                 int64_t dst_stride, cudaStream_t stream) {
  copy_rows<true>(src, src_stride, indices, n, dim, dst, dst_stride, stream);
}

void scatter_rows(const bf16* src, int64_t src_stride, int64_t n, int64_t dim, const int32_t* indices, bf16* dst,
                  int64_t dst_stride, cudaStream_t stream) {
  copy_rows<false>(src, src_stride, indices, n, dim, dst, dst_stride, stream);
}

}  // namespace tide::cuda
