#pragma once
// bf16 GEMM through cuBLASLt: y[n, out] = x[n, in] · Wᵀ with W [out, in] row-major (the
// checkpoint's layout), fp32 accumulation, bf16 output; the twin of cpu::matmul on bf16 weights.
// One Gemm per stream owns the cuBLASLt handle and its workspace; not thread-safe.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {

class Gemm {
 public:
  explicit Gemm(std::size_t workspace_bytes = 32u << 20);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // in and out must be multiples of 8 (16-byte rows, as every DeepSeek/llama dimension is);
  // n is any positive count.
  void bf16_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream);

 private:
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
};

}  // namespace tide::cuda
