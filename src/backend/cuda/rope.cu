// Rotary embedding, in place or into another buffer: one block per token (rope.cuh).
#include <cuda_bf16.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/rope.cuh"

namespace tide::cuda {
namespace {

__global__ void rope_kernel(RopeArgs a) {
  begin_dependent_kernel();
  rope_token(a, blockIdx.x, threadIdx.x, blockDim.x);
}

}  // namespace

void apply_rope(const RopeArgs& args, cudaStream_t stream) {
  if (args.tokens <= 0 || args.heads <= 0 || args.rope_dim < 2) return;
  if (args.rope_dim % 2 != 0) throw Error("apply_rope: rope_dim must be even");
  const int pairs = args.heads * (args.rope_dim / 2);
  const int threads = std::clamp((pairs + 31) / 32 * 32, 32, 256);
  launch_dependent(rope_kernel, static_cast<unsigned>(args.tokens), threads, 0, stream, args);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
