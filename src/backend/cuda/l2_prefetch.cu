// prefetch_l2_ranges: asks L2 for weights a later kernel of the step will read, from a stream of
// their own, while the step's main stream runs kernels bound by latency rather than bandwidth (a
// batch-1 decode's attention: the cache write, the absorption, two attention launches, W_UV and
// the router read a few MB in some 35 µs, an H100 could stream 100 MB in that time). The kernels
// that read those weights then find them in L2.
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kBlocks = 32, kThreads = 256;
constexpr int64_t kLine = 128;

// grid kBlocks, kThreads threads: the grid's threads take the ranges' 128-byte lines in turn.
__global__ void __launch_bounds__(kThreads) prefetch_l2_kernel(L2Prefetch p) {
  begin_dependent_kernel();  // orders it after the stream's fork point; it reads only weights
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t threads = int64_t{kBlocks} * kThreads;
  for (int r = 0; r < p.count; ++r) {
    const char* base = static_cast<const char*>(p.ranges[r].data);
    const int64_t lines = (p.ranges[r].bytes + kLine - 1) / kLine;
    for (int64_t line = thread; line < lines; line += threads)
      asm volatile("prefetch.global.L2 [%0];\n" ::"l"(base + line * kLine));
  }
}

}  // namespace

void prefetch_l2_ranges(const L2Prefetch& p, cudaStream_t stream) {
  if (p.count < 0 || p.count > L2Prefetch::kMaxRanges)
    throw Error("prefetch_l2_ranges: " + std::to_string(p.count) + " ranges (at most " +
                std::to_string(L2Prefetch::kMaxRanges) + ")");
  for (int r = 0; r < p.count; ++r)
    if (p.ranges[r].bytes < 0 || (p.ranges[r].bytes > 0 && !p.ranges[r].data))
      throw Error("prefetch_l2_ranges: range " + std::to_string(r) + " has no memory or a negative size");
  if (p.count == 0) return;
  launch_dependent(prefetch_l2_kernel, dim3(kBlocks), dim3(kThreads), 0, stream, p);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
