// MLA prefill in the expanded form: one sequence's new rows attend causally over its whole
// context, as cpu::attention does for MlaAttention::attend_expanded.
//
// Why not the absorbed form (mla_decode) for prefill: it reads each row's whole prefix per query
// row, 576 wide for every head; an 8k-token prompt then spent 7 ms a layer in attention on an
// H100. Here the context's latents are expanded once per step (gather_latent_context, then one
// GEMM through kv_b_proj: per head k_nope and v of 128 each), and the attention is the causal
// flash block of flash_prefill.cuh over 192-wide keys (k_nope | the shared rope key) and 128-wide
// values.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/flash_prefill.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kNope = kMlaPrefillNopeDim, kRope = kMlaRopeDim;

// Keys [k_nope (the expanded kv) | the shared rope key (its own rows)], values from the expanded kv.
struct MlaOperands {
  static constexpr int kQk = kNope + kRope, kV = kMlaPrefillValueDim;
  MlaPrefillArgs a;
  int rows = a.rows, context = a.context;
  float scale = a.scale;

  __device__ uint32_t query_pair(int row, int head, int dim) const {
    const bf16* src = dim < kNope ? a.q_nope + row * a.q_nope_stride + head * a.q_nope_head_stride + dim
                                  : a.q_rope + row * a.q_rope_stride + head * a.q_rope_head_stride + (dim - kNope);
    return *reinterpret_cast<const uint32_t*>(src);
  }
  __device__ const bf16* key_chunk(int head, int64_t p, int chunk) const {
    // k_nope from the expanded kv, the rope key from its own rows: chosen without a branch.
    const bool nope = chunk < kNope / 8;
    const bf16* base = nope ? a.kv + head * (kNope + kV) : a.k_rope - kNope;
    return base + p * (nope ? kv_stride() : int64_t{kRope}) + chunk * 8;
  }
  __device__ const bf16* value_chunk(int head, int64_t p, int chunk) const {
    return a.kv + head * (kNope + kV) + p * kv_stride() + kNope + chunk * 8;
  }
  __device__ bf16* out(int row, int head) const { return a.out + row * a.out_stride + head * a.out_head_stride; }
  __device__ int64_t kv_stride() const { return static_cast<int64_t>(a.heads) * (kNope + kV); }
};

__global__ void __launch_bounds__(flash_prefill::kThreads) mla_prefill_kernel(MlaOperands a) {
  begin_dependent_kernel();
  extern __shared__ unsigned char shared_raw[];
  flash_prefill::attend_block(a, shared_raw);
}

// grid context, 64 threads: position p's cache entry [latent | rope key] split into latent[p] and
// rope[p].
__global__ void gather_latent_context_kernel(LatentContextGather a) {
  begin_dependent_kernel();
  const int p = blockIdx.x;
  const int64_t slot = static_cast<int64_t>(a.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
  const uint4* entry = reinterpret_cast<const uint4*>(a.cache + slot * kMlaEntryDim);
  constexpr int kLatentChunks = kMlaLatentDim / 8, kChunks = kMlaEntryDim / 8;
  for (int i = threadIdx.x; i < kChunks; i += blockDim.x) {
    const uint4 v = entry[i];
    if (i < kLatentChunks)
      reinterpret_cast<uint4*>(a.latent + static_cast<int64_t>(p) * kMlaLatentDim)[i] = v;
    else
      reinterpret_cast<uint4*>(a.rope + static_cast<int64_t>(p) * kMlaRopeDim)[i - kLatentChunks] = v;
  }
}

}  // namespace

void gather_latent_context(const LatentContextGather& a, cudaStream_t stream) {
  if (a.context <= 0) return;
  launch_dependent(gather_latent_context_kernel, dim3(a.context), dim3(64), 0, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

void mla_prefill(const MlaPrefillArgs& a, cudaStream_t stream) {
  if (a.rows <= 0) return;
  if (a.rows > a.context)
    throw Error("mla_prefill: " + std::to_string(a.rows) + " new rows in a context of " + std::to_string(a.context));
  flash_prefill::launch(mla_prefill_kernel, MlaOperands{a}, a.heads, stream);
}

}  // namespace tide::cuda
