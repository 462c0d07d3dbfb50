#pragma once
// GEMMs through cuBLASLt (gemv_nt for one or two rows): y[n, out] = x[n, in] · Wᵀ with
// W [out, in] row-major (the checkpoint's layout), fp32 accumulation, bf16 output; the twin of cpu::matmul. In bf16, and in
// fp8 e4m3 with DeepSeek-V3's block scales (128×128 on the weights, 1×128 on the activations).
// One Gemm per stream owns the cuBLASLt handle and its workspace; not thread-safe.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>

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
  // n is any positive count. Up to kGemvMaxRows rows run as gemv_nt (ops.h), which streams W at
  // HBM speed where cuBLASLt's small tiles do not.
  void bf16_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream);

  // bf16_nt with fp32 output (router logits, the LM head's logits).
  void bf16_nt_f32(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y, cudaStream_t stream);

  // BatchedGemm (ops.h): `batch` independent GEMMs at fixed strides; any alignment the pointers
  // and strides have is allowed. Decode-sized ones run as gemv_batched where it supports them.
  void bf16_batched(const BatchedGemm& args, cudaStream_t stream);

  // fp8 block-scaled: W as the checkpoint stores it (e4m3 bytes [out, in] and weight_scale_inv
  // [out / 128, in / 128] row-major, W ≈ w · w_scale), x from quantize_fp8_blocks (e4m3 [n, in],
  // scales [in / 128, n]). in and out multiples of 128, n of kFp8RowTile (cuBLASLt's block-scaled
  // kernels take no other token counts: pad), in from kFp8MinDepth. Hopper's fp8 tensor cores run at twice
  // the bf16 rate, and the scales are applied per 128-deep slice of the accumulation.
  void fp8_block_nt(const uint8_t* x, const float* x_scales, int64_t n, const uint8_t* w, const float* w_scales,
                    int64_t out, int64_t in, bf16* y, cudaStream_t stream);
  // fp8_block_nt's token counts are multiples of this.
  static constexpr int64_t kFp8RowTile = 16;
  // fp8_block_nt's least depth. On the H100, CUDA 13's cuBLASLt block-scaled kernels gave wrong
  // products at depths 128 to 384: only 128 × 128 came out right. They were right from 512 on
  // (CudaOps.Fp8BlockGemmMatchesCpuMatmul, docs/benchmarks.md). Every fp8 depth of DeepSeek-V3
  // is 1,536 or more.
  static constexpr int64_t kFp8MinDepth = 512;

 private:
  struct Operands;
  void run(const Operands& operands, cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  // The heuristic's pick per problem (shapes, strides, types, alignments): asking cuBLASLt costs
  // more host time than a decode-sized GEMM takes on the GPU, and a model repeats a few dozen
  // problems step after step.
  using Problem = std::array<int64_t, 17>;  // types, shapes, strides, alignments
  std::map<Problem, cublasLtMatmulAlgo_t> algorithms_;
  DeviceBuffer<unsigned char> workspace_;
};

}  // namespace tide::cuda
