// cuBLASLt GEMMs (bf16, and fp8 with block scales). Row-major y[n, out] = x[n, in] · Wᵀ is, in cuBLAS's column-major terms,
// Yᵀ[out, n] = op_T(W stored as [in, out], ld in) · X stored as [in, n] (ld in): no copies or
// transposes of the checkpoint's weights. The heuristic picks the kernel per shape; a decode
// step's small n runs as a memory-bound pass over W.
#include "backend/cuda/gemm.h"

#include <string>

#include "backend/cuda/cuda_check.h"

namespace tide::cuda {
namespace {

// RAII for the descriptor handles one call needs.
struct MatmulDesc {
  cublasLtMatmulDesc_t desc = nullptr;
  ~MatmulDesc() {
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};
struct Layout {
  cublasLtMatrixLayout_t layout = nullptr;
  Layout(cudaDataType type, int64_t rows, int64_t cols, int64_t ld) {
    TIDE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows),
                                                 static_cast<uint64_t>(cols), ld));
  }
  ~Layout() {
    if (layout) cublasLtMatrixLayoutDestroy(layout);
  }
};
struct Preference {
  cublasLtMatmulPreference_t pref = nullptr;
  ~Preference() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

}  // namespace

Gemm::Gemm(std::size_t workspace_bytes) : workspace_(workspace_bytes) { TIDE_CUBLAS_CHECK(cublasLtCreate(&handle_)); }

Gemm::~Gemm() {
  if (handle_) cublasLtDestroy(handle_);
}

// One call's operands in cuBLAS's column-major terms (see the top of this file).
struct Gemm::Operands {
  const char* name;
  cudaDataType type;  // of W and x
  const void* w;
  const void* x;
  bf16* y;
  int64_t n, out, in;
  const float* w_scales = nullptr;  // fp8: 128×128 blocks
  const float* x_scales = nullptr;  // fp8: 1×128 blocks
};

void Gemm::bf16_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (in <= 0 || in % 8 != 0 || out % 8 != 0)
    throw Error("Gemm::bf16_nt: in and out must be positive multiples of 8 (got in " + std::to_string(in) +
                ", out " + std::to_string(out) + ")");
  run({.name = "Gemm::bf16_nt", .type = CUDA_R_16BF, .w = w, .x = x, .y = y, .n = n, .out = out, .in = in}, stream);
}

void Gemm::fp8_block_nt(const uint8_t* x, const float* x_scales, int64_t n, const uint8_t* w, const float* w_scales,
                        int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (in <= 0 || in % 128 != 0 || out % 128 != 0 || n % 16 != 0)
    throw Error("Gemm::fp8_block_nt: in and out must be positive multiples of 128 and n of 16 (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ", out " + std::to_string(out) +
                "); pad the token count, or use bf16_nt for a few tokens");
  run({.name = "Gemm::fp8_block_nt", .type = CUDA_R_8F_E4M3, .w = w, .x = x, .y = y, .n = n, .out = out, .in = in,
       .w_scales = w_scales, .x_scales = x_scales},
      stream);
}

void Gemm::run(const Operands& o, cudaStream_t stream) {
  MatmulDesc op;
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;  // fp8 needs exactly this ("TN")
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  if (o.w_scales) {
    // W seen column-major is [in, out]: its 128×128 block scales, read in that view, are the
    // checkpoint's row-major [out / 128, in / 128] as they are. x's 1×128 scales run along in,
    // stored block-major [in / 128, n].
    const int32_t w_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, x_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &w_mode, sizeof(w_mode)));
    TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &x_mode, sizeof(x_mode)));
    TIDE_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &o.w_scales, sizeof(o.w_scales)));
    TIDE_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &o.x_scales, sizeof(o.x_scales)));
  }
  const Layout a(o.type, o.in, o.out, o.in);   // W, transposed by the op
  const Layout b(o.type, o.in, o.n, o.in);     // X
  const Layout c(CUDA_R_16BF, o.out, o.n, o.out);  // Y

  Preference pref;
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.pref));
  const std::size_t ws = workspace_.bytes();
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                         sizeof(ws)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const auto status = cublasLtMatmulAlgoGetHeuristic(handle_, op.desc, a.layout, b.layout, c.layout, c.layout,
                                                     pref.pref, 1, &heuristic, &found);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0)
    throw Error(std::string(o.name) + ": cuBLASLt has no algorithm for n " + std::to_string(o.n) + ", in " +
                std::to_string(o.in) + ", out " + std::to_string(o.out) + " (status " + std::to_string(status) + ")");
  const float alpha = 1.f, beta = 0.f;
  TIDE_CUBLAS_CHECK(cublasLtMatmul(handle_, op.desc, &alpha, o.w, a.layout, o.x, b.layout, &beta, o.y, c.layout, o.y,
                                   c.layout, &heuristic.algo, workspace_.data(), ws, stream));
}

}  // namespace tide::cuda
