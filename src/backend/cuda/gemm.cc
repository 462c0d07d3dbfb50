// cuBLASLt bf16 GEMM. Row-major y[n, out] = x[n, in] · Wᵀ is, in cuBLAS's column-major terms,
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

void Gemm::bf16_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (in <= 0 || in % 8 != 0 || out % 8 != 0)
    throw Error("Gemm::bf16_nt: in and out must be positive multiples of 8 (got in " + std::to_string(in) +
                ", out " + std::to_string(out) + ")");
  MatmulDesc op;
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
  const Layout a(CUDA_R_16BF, in, out, in);  // W, transposed by the op
  const Layout b(CUDA_R_16BF, in, n, in);    // X
  const Layout c(CUDA_R_16BF, out, n, out);  // Y

  Preference pref;
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.pref));
  const std::size_t ws = workspace_.bytes();
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                         sizeof(ws)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  TIDE_CUBLAS_CHECK(
      cublasLtMatmulAlgoGetHeuristic(handle_, op.desc, a.layout, b.layout, c.layout, c.layout, pref.pref, 1, &heuristic, &found));
  if (found == 0)
    throw Error("Gemm::bf16_nt: cuBLASLt has no algorithm for n " + std::to_string(n) + ", in " + std::to_string(in) +
                ", out " + std::to_string(out));
  const float alpha = 1.f, beta = 0.f;
  TIDE_CUBLAS_CHECK(cublasLtMatmul(handle_, op.desc, &alpha, w, a.layout, x, b.layout, &beta, y, c.layout, y, c.layout,
                                   &heuristic.algo, workspace_.data(), ws, stream));
}

}  // namespace tide::cuda
