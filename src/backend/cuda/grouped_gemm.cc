// Row-major y = x · Wᵀ in cuBLAS's column-major terms, as in gemm.cc: Yᵀ[out, n] = op_T(W seen
// as [in, out], ld in) · Xᵀ[in, n] (ld in), ld of Y out. Each problem is a group of one, since
// the experts' row counts differ.
#include "backend/cuda/grouped_gemm.h"

#include <string>

#include "backend/cuda/cuda_check.h"

namespace tide::cuda {
namespace {

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("GroupedGemm: ") + what + ": " + cublasGetStatusString(status));
}

}  // namespace

GroupedGemm::GroupedGemm() { check(cublasCreate(&handle_), "cublasCreate"); }

GroupedGemm::~GroupedGemm() {
  if (handle_) cublasDestroy(handle_);
}

void GroupedGemm::bf16_nt(std::span<const Problem> problems, int64_t out, int64_t in, cudaStream_t stream) {
  if (in <= 0 || out <= 0 || in % 8 != 0 || out % 8 != 0)
    throw Error("GroupedGemm::bf16_nt: in and out must be positive multiples of 8 (got in " + std::to_string(in) +
                ", out " + std::to_string(out) + ")");
  std::vector<const Problem*> live;
  for (const Problem& p : problems)
    if (p.n > 0) live.push_back(&p);
  if (live.empty()) return;
  const int count = static_cast<int>(live.size());
  host_pointers_.assign(3 * static_cast<std::size_t>(count), nullptr);
  std::vector<int> m(count, static_cast<int>(out)), n(count), k(count, static_cast<int>(in));
  std::vector<int> lda(count, static_cast<int>(in)), ldb(count, static_cast<int>(in)), ldc(count, static_cast<int>(out));
  std::vector<int> group_size(count, 1);
  std::vector<cublasOperation_t> transa(count, CUBLAS_OP_T), transb(count, CUBLAS_OP_N);
  std::vector<float> alpha(count, 1.f), beta(count, 0.f);
  for (int i = 0; i < count; ++i) {
    host_pointers_[i] = live[i]->w;
    host_pointers_[count + i] = live[i]->x;
    host_pointers_[2 * count + i] = live[i]->y;
    n[i] = static_cast<int>(live[i]->n);
  }
  if (pointers_.size() < host_pointers_.size()) pointers_ = DeviceBuffer<const void*>(host_pointers_.size() * 2);
  // Stream-ordered after the previous call's GEMM, which read the same array.
  TIDE_CUDA_CHECK(cudaMemcpyAsync(pointers_.data(), host_pointers_.data(), host_pointers_.size() * sizeof(void*),
                                  cudaMemcpyHostToDevice, stream));
  check(cublasSetStream(handle_, stream), "cublasSetStream");
  const void* const* a = pointers_.data();
  const void* const* b = a + count;
  void* const* c = const_cast<void* const*>(b + count);
  check(cublasGemmGroupedBatchedEx(handle_, transa.data(), transb.data(), m.data(), n.data(), k.data(), alpha.data(), a,
                                   CUDA_R_16BF, lda.data(), b, CUDA_R_16BF, ldb.data(), beta.data(), c, CUDA_R_16BF,
                                   ldc.data(), count, group_size.data(), CUBLAS_COMPUTE_32F),
        "cublasGemmGroupedBatchedEx");
}

}  // namespace tide::cuda
