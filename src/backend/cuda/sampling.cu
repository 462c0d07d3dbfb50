// Picking tokens where the logits are: argmax per row, of the logits (greedy) or of logits / T
// plus Gumbel noise (a draw from softmax(logits / T), tensor/gumbel.h). One block of 1024 threads
// per row reads the row in 16-byte vectors (coalesced; a 129280-wide row is 32 vectors per
// thread), keeps a running (value, index) per thread, then reduces by warp shuffles and shared
// memory. Each thread visits its indices in increasing order and the reduction breaks ties by
// index, so the lowest index of the maximum wins, as std::max_element does.
#include <climits>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "tensor/gumbel.h"

namespace tide::cuda {
namespace {

constexpr int kThreads = 1024;

struct Best {
  float value;
  int32_t index;
};

__device__ __forceinline__ void consider(Best& best, float value, int32_t index) {
  if (value > best.value || (value == best.value && index < best.index)) best = {value, index};
}

// temperatures and seeds: per row, or null for a plain argmax of every row. A row at temperature
// t > 0 takes the argmax of fmaf(logit, 1 / t, noise) over its finite logits, as pick_token does on
// the host.
__global__ void argmax_kernel(const float* logits, int64_t vocab, bool vec, const float* temperatures,
                              const uint64_t* seeds, int32_t* out) {
  begin_dependent_kernel();
  const float* row = logits + blockIdx.x * vocab;
  Best best{-INFINITY, INT_MAX};
  const float temperature = temperatures ? temperatures[blockIdx.x] : 0.f;
  const uint64_t seed = seeds ? seeds[blockIdx.x] : 0;
  const float inv = temperature > 0.f ? 1.f / temperature : 0.f;
  auto take = [&](float value, int32_t index) {
    if (temperature > 0.f) value = isfinite(value) ? fmaf(value, inv, gumbel_noise(seed, index)) : -INFINITY;
    consider(best, value, index);
  };
  int64_t tail = 0;
  if (vec) {
    const int64_t vecs = vocab / 4;
    const float4* r4 = reinterpret_cast<const float4*>(row);
    for (int64_t c = threadIdx.x; c < vecs; c += kThreads) {
      const float4 v = r4[c];
      const int32_t i = static_cast<int32_t>(c * 4);
      take(v.x, i);
      take(v.y, i + 1);
      take(v.z, i + 2);
      take(v.w, i + 3);
    }
    tail = vecs * 4;
  }
  for (int64_t i = tail + threadIdx.x; i < vocab; i += kThreads) take(row[i], static_cast<int32_t>(i));

#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, best.value, offset);
    const int32_t i = __shfl_xor_sync(0xffffffffu, best.index, offset);
    consider(best, v, i);
  }
  __shared__ Best warps[kThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = warps[lane];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float v = __shfl_xor_sync(0xffffffffu, best.value, offset);
      const int32_t i = __shfl_xor_sync(0xffffffffu, best.index, offset);
      consider(best, v, i);
    }
    // A row of NaN takes no index: 0, as std::max_element gives on the host.
    if (lane == 0) out[blockIdx.x] = best.index == INT_MAX ? 0 : best.index;
  }
}

}  // namespace

void sample_rows(const float* logits, int64_t rows, int64_t vocab, const float* temperatures, const uint64_t* seeds,
                 int32_t* out, cudaStream_t stream) {
  if (rows <= 0) return;
  if (vocab <= 0 || vocab > INT32_MAX) throw Error("sample_rows: vocab must be in [1, 2^31)");
  if (!temperatures != !seeds) throw Error("sample_rows: give both temperatures and seeds, or neither");
  // Every row is 16-byte aligned when the base is and vocab is a multiple of 4.
  const bool vec = vocab % 4 == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0;
  launch_dependent(argmax_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, logits, vocab, vec, temperatures,
                   seeds, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* out, cudaStream_t stream) {
  sample_rows(logits, rows, vocab, nullptr, nullptr, out, stream);
}

}  // namespace tide::cuda
