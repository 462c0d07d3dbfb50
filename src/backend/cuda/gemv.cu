// Decode-sized dense GEMMs (at most kGemvMaxRows rows): y[n, out] = x[n, in] · Wᵀ, W [out, in]
// row-major, fp32 accumulation. Such a product only streams W once, and cuBLASLt's small-n tiles
// reach about a third of HBM bandwidth on the projections of one decode token. Here a block owns
// a few output features and its 256 threads split their rows' columns: each thread streams 16-byte
// chunks of every feature's weight row (bypassing L1: each is read once) and reads the matching
// chunk of the n input rows once for all of them, so there are many independent loads in flight
// and the input is read from L2 once per few features; then the block sums the partial dots.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/gemv.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

template <int kRows, bool kNormed, typename Out>
__global__ void __launch_bounds__(kGemvThreads) gemv_nt_kernel(GemvInput x, const bf16* w, int64_t out, int64_t in,
                                                                Out* y) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kGemvFeatures;
  gemv_prefetch(w, out, in, first);
  const GemvFirstChunk chunk = gemv_first_chunk(x, w, out, in, first);
  begin_dependent_kernel();
  gemv_block<kRows, kNormed>(x, w, out, in, first, chunk, y);
}

template <int kRows, typename Out>
void launch_rows(const GemvInput& x, const bf16* w, int64_t out, int64_t in, Out* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((out + kGemvFeatures - 1) / kGemvFeatures));
  if (x.norm_weight)
    launch_dependent(gemv_nt_kernel<kRows, true, Out>, grid, kGemvThreads, 0, stream, x, w, out, in, y);
  else
    launch_dependent(gemv_nt_kernel<kRows, false, Out>, grid, kGemvThreads, 0, stream, x, w, out, in, y);
}

template <typename Out>
void launch(const GemvInput& x, int64_t n, const bf16* w, int64_t out, int64_t in, Out* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (n > kGemvMaxRows || in <= 0 || in % 8 != 0)
    throw Error("gemv_nt: needs 1.." + std::to_string(kGemvMaxRows) + " rows and in a positive multiple of 8 (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ")");
  if ((out + kGemvFeatures - 1) / kGemvFeatures > int64_t{0x7fffffff})
    throw Error("gemv_nt: out " + std::to_string(out) + " is too large for one grid");
  static_assert(kGemvMaxRows == 2, "gemv_nt instantiates one and two rows");
  if (n == 1) launch_rows<1>(x, w, out, in, y, stream);
  else launch_rows<2>(x, w, out, in, y, stream);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  launch(GemvInput{.x = x}, n, w, out, in, y, stream);
}

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y, cudaStream_t stream) {
  launch(GemvInput{.x = x}, n, w, out, in, y, stream);
}

void gemv_nt(const GemvInput& x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  const uintptr_t addresses = reinterpret_cast<uintptr_t>(x.x) | reinterpret_cast<uintptr_t>(x.delta) |
                              reinterpret_cast<uintptr_t>(x.norm_weight) | reinterpret_cast<uintptr_t>(w);
  if (addresses % 16 != 0) throw Error("gemv_nt: normalised rows, their norm weight and W must be 16-byte aligned");
  launch(x, n, w, out, in, y, stream);
}

}  // namespace tide::cuda
