// Rotary embedding in place. One block per token, one thread per rotated pair of one head: the
// whole token's cos/sin row (rope_dim/2 floats) is shared by all its heads and stays in L1, so
// the kernel moves each rotated element once each way. Rope touches 64 of 192 (q) or 64 of 576
// (cache entry) elements per head, too few and too strided for vector loads to matter.
#include <cuda_bf16.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

__global__ void rope_kernel(RopeArgs a) {
  const int64_t token = blockIdx.x;
  const int half = a.rope_dim / 2;
  const int pos = a.positions[token];
  const float* cos = a.cos + static_cast<int64_t>(pos) * half;
  const float* sin = a.sin + static_cast<int64_t>(pos) * half;
  bf16* base = a.x + token * a.token_stride + a.rope_offset;
  for (int p = threadIdx.x; p < a.heads * half; p += blockDim.x) {
    const int head = p / half, i = p % half;
    bf16* v = base + head * a.head_stride;
    bf16* pa = a.interleaved ? v + 2 * i : v + i;
    bf16* pb = a.interleaved ? v + 2 * i + 1 : v + i + half;
    const float x0 = __bfloat162float(*pa), x1 = __bfloat162float(*pb);
    *pa = __float2bfloat16(x0 * cos[i] - x1 * sin[i]);
    *pb = __float2bfloat16(x1 * cos[i] + x0 * sin[i]);
  }
}

}  // namespace

void apply_rope(const RopeArgs& args, cudaStream_t stream) {
  if (args.tokens <= 0 || args.heads <= 0 || args.rope_dim < 2) return;
  if (args.rope_dim % 2 != 0) throw Error("apply_rope: rope_dim must be even");
  const int pairs = args.heads * (args.rope_dim / 2);
  const int threads = std::clamp((pairs + 31) / 32 * 32, 32, 256);
  rope_kernel<<<static_cast<unsigned>(args.tokens), threads, 0, stream>>>(args);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
