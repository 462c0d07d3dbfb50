#pragma once
// SwiGLU's activation of one element, as every kernel that applies it computes it: silu(g) · u in
// fp32 on the stored bf16 values, rounded to bf16 once (what silu_mul stores). The kernels that
// fold it into their output or input (moe_gemv_gate_up, silu_mul_quantize_fp8_blocks) are then
// bit for bit their plain form and silu_mul.
#include <cuda_bf16.h>

namespace tide::cuda {

__device__ __forceinline__ float silu(float g) { return g / (1.f + expf(-g)); }

__device__ __forceinline__ __nv_bfloat16 swiglu(__nv_bfloat16 g, __nv_bfloat16 u) {
  return __float2bfloat16(silu(__bfloat162float(g)) * __bfloat162float(u));
}

}  // namespace tide::cuda
