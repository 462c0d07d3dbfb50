// Rotary embedding, in place or into another buffer. One block per token, one thread per rotated pair of one head: the
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
  const bf16* base = a.x + token * a.token_stride + a.rope_offset;
  bf16* out_base = a.out ? a.out + token * a.out_token_stride + a.out_offset : a.x + token * a.token_stride + a.rope_offset;
  const int64_t out_head_stride = a.out ? a.out_head_stride : a.head_stride;
  const int first = a.interleaved ? 2 : 1, second_offset = a.interleaved ? 1 : half;
  for (int p = threadIdx.x; p < a.heads * half; p += blockDim.x) {
    const int head = p / half, i = p % half;
    const int64_t ia = static_cast<int64_t>(first) * i, ib = ia + second_offset;
    const bf16* v = base + head * a.head_stride;
    bf16* o = out_base + head * out_head_stride;
    const float x0 = __bfloat162float(v[ia]), x1 = __bfloat162float(v[ib]);
    o[ia] = __float2bfloat16(x0 * cos[i] - x1 * sin[i]);
    o[ib] = __float2bfloat16(x1 * cos[i] + x0 * sin[i]);
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
