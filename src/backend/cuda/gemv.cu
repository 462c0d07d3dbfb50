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
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"

namespace tide::cuda {
namespace {

constexpr int kThreads = 256;

// Not volatile: the compiler may hoist a thread's loads ahead of the arithmetic that waits on them.
__device__ __forceinline__ uint4 load_streaming(const bf16* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ void store(bf16* y, float v) { *y = __float2bfloat16(v); }
__device__ __forceinline__ void store(float* y, float v) { *y = v; }

// kRows: the rows, 1 or 2. kFeatures output features per block share each input chunk they read.
constexpr int kFeatures = 4;

template <int kRows, typename Out>
__global__ void __launch_bounds__(kThreads) gemv_nt_kernel(const bf16* x, const bf16* w, int64_t out, int64_t in,
                                                            Out* y) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kFeatures;
  // The block's weight rows are contiguous and no kernel writes them: pull the start of them
  // towards L2 while the kernel before this one finishes, then wait for it (its output is x).
  // Capped, so that the blocks of a large matrix do not flood L2 ahead of their reads.
  constexpr int64_t kPrefetchBytes = 32 * 1024;
  const int64_t features = first + kFeatures <= out ? kFeatures : out - first;
  const int64_t slice_bytes = features * in * int64_t{sizeof(bf16)};
  const char* slice = reinterpret_cast<const char*>(w + first * in);
  for (int64_t byte = threadIdx.x * int64_t{128}; byte < slice_bytes && byte < kPrefetchBytes; byte += kThreads * 128)
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(slice + byte));
  begin_dependent_kernel();
  float acc[kFeatures][kRows] = {};
  for (int64_t c = threadIdx.x * 8; c < in; c += kThreads * 8) {
    uint4 weights[kFeatures];
#pragma unroll
    for (int f = 0; f < kFeatures; ++f)
      weights[f] = first + f < out ? load_streaming(w + (first + f) * in + c) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const uint4 xp = __ldg(reinterpret_cast<const uint4*>(x + r * in + c));
      const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xp);
      float2 xf[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) xf[i] = __bfloat1622float2(x2[i]);
#pragma unroll
      for (int f = 0; f < kFeatures; ++f) {
        const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&weights[f]);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float2 wf = __bfloat1622float2(w2[i]);
          acc[f][r] += wf.x * xf[i].x + wf.y * xf[i].y;
        }
      }
    }
  }
  // Each warp's sums, then the block's.
  __shared__ float partial[kThreads / 32][kFeatures * kRows];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int f = 0; f < kFeatures; ++f)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = warp_sum(acc[f][r]);
      if (lane == 0) partial[warp][f * kRows + r] = v;
    }
  __syncthreads();
  if (threadIdx.x < kFeatures * kRows) {
    const int f = threadIdx.x / kRows, r = threadIdx.x % kRows;
    if (first + f < out) {
      float sum = 0.f;
#pragma unroll
      for (int i = 0; i < kThreads / 32; ++i) sum += partial[i][threadIdx.x];
      store(y + r * out + first + f, sum);
    }
  }
}

template <int kRows, typename Out>
void launch_rows(const bf16* x, const bf16* w, int64_t out, int64_t in, Out* y, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((out + kFeatures - 1) / kFeatures));
  launch_dependent(gemv_nt_kernel<kRows, Out>, grid, kThreads, 0, stream, x, w, out, in, y);
}

template <typename Out>
void launch(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, Out* y, cudaStream_t stream) {
  if (n <= 0 || out <= 0) return;
  if (n > kGemvMaxRows || in <= 0 || in % 8 != 0)
    throw Error("gemv_nt: needs 1.." + std::to_string(kGemvMaxRows) + " rows and in a positive multiple of 8 (got n " +
                std::to_string(n) + ", in " + std::to_string(in) + ")");
  if ((out + kFeatures - 1) / kFeatures > int64_t{0x7fffffff})
    throw Error("gemv_nt: out " + std::to_string(out) + " is too large for one grid");
  static_assert(kGemvMaxRows == 2, "gemv_nt instantiates one and two rows");
  if (n == 1) launch_rows<1>(x, w, out, in, y, stream);
  else launch_rows<2>(x, w, out, in, y, stream);
  TIDE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream) {
  launch(x, n, w, out, in, y, stream);
}

void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y, cudaStream_t stream) {
  launch(x, n, w, out, in, y, stream);
}

}  // namespace tide::cuda
