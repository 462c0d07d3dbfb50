// cuBLASLt GEMMs (bf16, and fp8 with block scales). Row-major y[n, out] = x[n, in] · Wᵀ is, in cuBLAS's column-major terms,
// Yᵀ[out, n] = op_T(W stored as [in, out], ld in) · X stored as [in, n] (ld in): no copies or
// transposes of the checkpoint's weights. The heuristic picks the kernel per shape; one or two
// rows (a decode step of one or two sequences) go to gemv_nt or gemv_batched instead, which
// stream W faster.
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
  void* y;
  int64_t n, out, in;
  cudaDataType y_type = CUDA_R_16BF;
  const float* w_scales = nullptr;  // fp8: 128×128 blocks
  const float* x_scales = nullptr;  // fp8: 1×128 blocks
  // Leading dimensions in elements (0: packed) and batches at fixed strides.
  bool w_transposed = true;
  int64_t w_ld = 0, x_ld = 0, y_ld = 0;
  int batch = 1;
  int64_t w_stride = 0, x_stride = 0, y_stride = 0;
};

namespace {

void check_multiples_of_8(const char* name, int64_t in, int64_t out) {
  if (in <= 0 || in % 8 != 0 || out % 8 != 0)
    throw Error(std::string(name) + ": in and out must be positive multiples of 8 (got in " + std::to_string(in) +
                ", out " + std::to_string(out) + ")");
}

// The largest power of two (up to 256) that divides the address of every batch's matrix:
// cuBLASLt's heuristic otherwise assumes 256-byte aligned operands.
uint32_t alignment(const void* p, int64_t batch_stride_bytes, int batch) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256;
  if (batch > 1) bits |= static_cast<uint64_t>(batch_stride_bytes) | 256;
  return static_cast<uint32_t>(bits & (~bits + 1));
}

// gemv_nt reads x and w in 16-byte loads; cuBLASLt takes any alignment.
bool gemv_aligned(const void* x, const void* w) {
  return (reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w)) % 16 == 0;
}

std::size_t element_bytes(cudaDataType type) {
  return type == CUDA_R_32F ? 4 : type == CUDA_R_8F_E4M3 ? 1 : 2;
}

void set_batch(const Layout& layout, int batch, int64_t stride) {
  if (batch <= 1) return;
  const int32_t count = batch;
  TIDE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout.layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                     sizeof(count)));
  TIDE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout.layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                     &stride, sizeof(stride)));
}

}  // namespace

void Gemm::bf16_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  check_multiples_of_8("Gemm::bf16_nt", in, out);
  if (n <= kGemvMaxRows && gemv_aligned(x, w)) return gemv_nt(x, n, w, out, in, y, stream);
  run({.name = "Gemm::bf16_nt", .type = CUDA_R_16BF, .w = w, .x = x, .y = y, .n = n, .out = out, .in = in}, stream);
}

void Gemm::bf16_nt_f32(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y,
                       cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  check_multiples_of_8("Gemm::bf16_nt_f32", in, out);
  if (n <= kGemvMaxRows && gemv_aligned(x, w)) return gemv_nt(x, n, w, out, in, y, stream);
  run({.name = "Gemm::bf16_nt_f32", .type = CUDA_R_16BF, .w = w, .x = x, .y = y, .n = n, .out = out, .in = in,
       .y_type = CUDA_R_32F},
      stream);
}

void Gemm::bf16_batched(const BatchedGemm& b, cudaStream_t stream) {
  if (b.n <= 0 || b.out <= 0 || b.batch <= 0) return;
  if (b.in <= 0 || b.x_ld < b.in || b.y_ld < b.out || b.w_ld < (b.w_transposed ? b.in : b.out))
    throw Error("Gemm::bf16_batched: a leading dimension is shorter than its rows (in " + std::to_string(b.in) +
                ", out " + std::to_string(b.out) + ")");
  if (gemv_batched_supported(b)) return gemv_batched(b, stream);
  run({.name = "Gemm::bf16_batched", .type = CUDA_R_16BF, .w = b.w, .x = b.x, .y = b.y, .n = b.n, .out = b.out,
       .in = b.in, .w_transposed = b.w_transposed, .w_ld = b.w_ld, .x_ld = b.x_ld, .y_ld = b.y_ld, .batch = b.batch,
       .w_stride = b.w_batch_stride, .x_stride = b.x_batch_stride, .y_stride = b.y_batch_stride},
      stream);
}

void Gemm::fp8_block_nt(const uint8_t* x, const float* x_scales, int64_t n, const uint8_t* w, const float* w_scales,
                        int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (in < kFp8MinDepth || in % 128 != 0 || out % 128 != 0 || n % kFp8RowTile != 0)
    throw Error("Gemm::fp8_block_nt: in must be a multiple of 128 from " + std::to_string(kFp8MinDepth) +
                ", out a positive multiple of 128 and n of " + std::to_string(kFp8RowTile) + " (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ", out " + std::to_string(out) +
                "); pad the token count, or use gemm_fp8_blocks");
  run({.name = "Gemm::fp8_block_nt", .type = CUDA_R_8F_E4M3, .w = w, .x = x, .y = y, .n = n, .out = out, .in = in,
       .w_scales = w_scales, .x_scales = x_scales},
      stream);
}

void Gemm::run(const Operands& o, cudaStream_t stream) {
  MatmulDesc op;
  TIDE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // fp8 needs exactly "TN"; W row-major [in, out] (not transposed) is already column-major [out, in].
  const cublasOperation_t transa = o.w_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, transb = CUBLAS_OP_N;
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
  const int64_t w_ld = o.w_ld ? o.w_ld : (o.w_transposed ? o.in : o.out);
  const int64_t x_ld = o.x_ld ? o.x_ld : o.in, y_ld = o.y_ld ? o.y_ld : o.out;
  const Layout a = o.w_transposed ? Layout(o.type, o.in, o.out, w_ld) : Layout(o.type, o.out, o.in, w_ld);
  const Layout b(o.type, o.in, o.n, x_ld);     // X
  const Layout c(o.y_type, o.out, o.n, y_ld);  // Y
  set_batch(a, o.batch, o.w_stride);
  set_batch(b, o.batch, o.x_stride);
  set_batch(c, o.batch, o.y_stride);

  Preference pref;
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.pref));
  const std::size_t ws = workspace_.bytes();
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                         sizeof(ws)));
  const std::size_t in_bytes = element_bytes(o.type), out_bytes = element_bytes(o.y_type);
  const uint32_t align_a = alignment(o.w, o.w_stride * in_bytes, o.batch),
                 align_b = alignment(o.x, o.x_stride * in_bytes, o.batch),
                 align_c = alignment(o.y, o.y_stride * out_bytes, o.batch);
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                         &align_a, sizeof(align_a)));
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                         &align_b, sizeof(align_b)));
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                         &align_c, sizeof(align_c)));
  TIDE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                         &align_c, sizeof(align_c)));
  const Problem key{int64_t{o.type}, int64_t{o.y_type}, int64_t{o.w_transposed}, int64_t{o.w_scales != nullptr},
                    o.n, o.out, o.in, w_ld, x_ld, y_ld, int64_t{o.batch}, o.w_stride, o.x_stride, o.y_stride,
                    int64_t{align_a}, int64_t{align_b}, int64_t{align_c}};
  auto cached = algorithms_.find(key);
  if (cached == algorithms_.end()) {
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    const auto status = cublasLtMatmulAlgoGetHeuristic(handle_, op.desc, a.layout, b.layout, c.layout, c.layout,
                                                       pref.pref, 1, &heuristic, &found);
    if (status != CUBLAS_STATUS_SUCCESS || found == 0)
      throw Error(std::string(o.name) + ": cuBLASLt has no algorithm for n " + std::to_string(o.n) + ", in " +
                  std::to_string(o.in) + ", out " + std::to_string(o.out) + " (status " + std::to_string(status) +
                  ")");
    cached = algorithms_.emplace(key, heuristic.algo).first;
  }
  const float alpha = 1.f, beta = 0.f;
  TIDE_CUBLAS_CHECK(cublasLtMatmul(handle_, op.desc, &alpha, o.w, a.layout, o.x, b.layout, &beta, o.y, c.layout, o.y,
                                   c.layout, &cached->second, workspace_.data(), ws, stream));
}

}  // namespace tide::cuda
