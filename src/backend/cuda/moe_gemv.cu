// Decode-sized MoE: each (token, choice) row is multiplied by its own expert's matrix, the expert
// read from the router's ids on the device, so a decode step needs no host round trip (and can be
// captured as one CUDA graph). One block per (row, 16 output features): the input row sits in
// shared memory as fp32 and each warp streams whole weight rows with 16-byte loads, reducing with
// shuffles. An expert chosen by several rows is read once per row, so this is for small batches;
// larger ones group rows by expert and read each expert once per 64 of its rows (moe_grouped_gemm).
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/reduce.cuh"
#include "backend/cuda/swiglu.cuh"

namespace tide::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerBlock = 16;  // output features: two per warp, so even one row gives every SM blocks

// out[row, :out_dim] = W[ids[row]] · input(row), W [out_dim, in_dim] row-major.
//   kSwiGlu = false: input(row) = x[row / top_k, :in_dim]                (gate_up of the token)
//   kSwiGlu = true:  input(row) = silu(g) · u over x[row] = [g | u] of 2·in_dim, rounded to bf16
//                    as silu_mul stores it                              (down of the activation)
template <bool kSwiGlu, bool kVector>
__global__ void moe_gemv_kernel(const bf16* x, int top_k, const int32_t* ids, const bf16* const* weights,
                                int64_t out_dim, int64_t in_dim, bf16* out) {
  begin_dependent_kernel();
  extern __shared__ float input[];
  const int64_t row = blockIdx.y;
  const bf16* w = weights[ids[row]];
  if (kSwiGlu) {
    const bf16* src = x + row * 2 * in_dim;
    for (int64_t i = threadIdx.x; i < in_dim; i += blockDim.x) {
      input[i] = __bfloat162float(swiglu(src[i], src[in_dim + i]));
    }
  } else {
    const bf16* src = x + (row / top_k) * in_dim;
    for (int64_t i = threadIdx.x; i < in_dim; i += blockDim.x) input[i] = __bfloat162float(src[i]);
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock;
  const int64_t last = first + kRowsPerBlock < out_dim ? first + kRowsPerBlock : out_dim;
  for (int64_t r = first + warp; r < last; r += kWarps) {
    const bf16* wr = w + r * in_dim;
    float acc = 0.f;
    if (kVector) {
      for (int64_t c = lane * 8; c < in_dim; c += 32 * 8) {
        const uint4 packed = *reinterpret_cast<const uint4*>(wr + c);
        const bf16* v = reinterpret_cast<const bf16*>(&packed);
#pragma unroll
        for (int i = 0; i < 8; ++i) acc += __bfloat162float(v[i]) * input[c + i];
      }
    } else {
      for (int64_t c = lane; c < in_dim; c += 32) acc += __bfloat162float(wr[c]) * input[c];
    }
    acc = warp_sum(acc);
    if (lane == 0) out[row * out_dim + r] = __float2bfloat16(acc);
  }
}

template <bool kSwiGlu>
void launch(const bf16* x, int64_t tokens, int top_k, const int32_t* ids, const bf16* const* weights, int64_t out_dim,
            int64_t in_dim, bf16* out, cudaStream_t stream) {
  const int64_t rows = tokens * top_k;
  if (rows <= 0 || out_dim <= 0) return;
  if (in_dim <= 0 || in_dim > 12 * 1024 || rows > 65535)
    throw Error("moe_expert_gemv: needs 0 < in_dim <= 12288 and at most 65535 rows (got in_dim " +
                std::to_string(in_dim) + ", " + std::to_string(rows) + " rows)");
  // Weights come from cudaMalloc (256-byte aligned); rows of a multiple of 8 keep 16-byte loads.
  const bool vector = in_dim % 8 == 0;
  const dim3 grid(static_cast<unsigned>((out_dim + kRowsPerBlock - 1) / kRowsPerBlock), static_cast<unsigned>(rows));
  const std::size_t shared = in_dim * sizeof(float);
  if (vector)
    launch_dependent(moe_gemv_kernel<kSwiGlu, true>, grid, kWarps * 32, shared, stream, x, top_k, ids, weights, out_dim,
                     in_dim, out);
  else
    launch_dependent(moe_gemv_kernel<kSwiGlu, false>, grid, kWarps * 32, shared, stream, x, top_k, ids, weights,
                     out_dim, in_dim, out);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void moe_gate_up_gemv(const bf16* h, int64_t tokens, int top_k, const int32_t* ids, const bf16* const* gate_up,
                      int64_t inter, int64_t hidden, bf16* out, cudaStream_t stream) {
  launch<false>(h, tokens, top_k, ids, gate_up, 2 * inter, hidden, out, stream);
}

void moe_down_gemv(const bf16* gate_up, int64_t tokens, int top_k, const int32_t* ids, const bf16* const* down,
                   int64_t hidden, int64_t inter, bf16* out, cudaStream_t stream) {
  launch<true>(gate_up, tokens, top_k, ids, down, hidden, inter, out, stream);
}

}  // namespace tide::cuda
