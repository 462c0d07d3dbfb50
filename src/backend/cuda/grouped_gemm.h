#pragma once
// Many bf16 GEMMs of one width in one launch (cuBLAS's grouped batched GEMM): the experts of an
// MoE layer, each over its own rows, y_p[n_p, out] = x_p[n_p, in] · W_pᵀ with W_p [out, in]
// row-major, fp32 accumulation. One launch instead of one per expert keeps a large decode or
// prefill step from being bound by the host. The twin of cpu::matmul per problem.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {

class GroupedGemm {
 public:
  struct Problem {
    const bf16* x;
    int64_t n;  // rows of x; problems with none are skipped
    const bf16* w;
    bf16* y;
  };

  GroupedGemm();
  ~GroupedGemm();
  GroupedGemm(const GroupedGemm&) = delete;
  GroupedGemm& operator=(const GroupedGemm&) = delete;

  // in and out multiples of 8; every pointer 16-byte aligned.
  void bf16_nt(std::span<const Problem> problems, int64_t out, int64_t in, cudaStream_t stream);

 private:
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer<const void*> pointers_;  // [A... | B... | C...] of the last call
  std::vector<const void*> host_pointers_;
};

}  // namespace tide::cuda
