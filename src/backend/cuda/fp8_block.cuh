#pragma once
// DeepSeek-V3's activation blocks (1×128 values, one fp32 scale = amax / 448) as the quantizing
// kernels write them: the scale of a block from its amax, and four values packed to e4m3 bytes.
#include <cuda_fp8.h>

#include <cstdint>

namespace tide::cuda {

constexpr float kFp8E4m3Max = 448.f;  // e4m3's largest finite value

__device__ __forceinline__ float fp8_block_scale(float amax) { return amax > 0.f ? amax / kFp8E4m3Max : 1.f; }

// f[0..3] · inverse to e4m3 (round to nearest, saturating to ±448), f[0] in the lowest byte.
__device__ __forceinline__ uint32_t pack_e4m3x4(const float* f, float inverse) {
  uint32_t packed = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __nv_fp8_e4m3 e(f[i] * inverse);
    packed |= static_cast<uint32_t>(e.__x) << (8 * i);
  }
  return packed;
}

}  // namespace tide::cuda
