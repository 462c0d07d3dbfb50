// MLA prefill in the expanded form: one sequence's new rows attend causally over its whole
// context, as cpu::attention does for MlaAttention::attend_expanded.
//
// Why not the absorbed form (mla_decode) for prefill: it reads each row's whole prefix per query
// row, 576 wide for every head; an 8k-token prompt then spent 7 ms a layer in attention on an
// H100. Here the context's latents are expanded once per step (gather_latent_context, then one
// GEMM through kv_b_proj: per head k_nope and v of 128 each), and the attention is a causal flash
// kernel over 192-wide keys (k_nope | the shared rope key) and 128-wide values:
//   - a block is 8 warps and 128 query rows of one head, each warp 16 rows; the query's fragments
//     (192 dims) stay in registers for the whole context. Each key and value tile read serves
//     128 rows: with 64 the kernel was bound by streaming keys and values from L2, at a tenth of
//     the tensor cores' rate;
//   - keys and values come in tiles of 64 positions through a three-stage cp.async ring, rows
//     padded so that fragment reads (ldmatrix) hit every bank once;
//   - S = Q·Kᵀ and O += P·V on the tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate),
//     the softmax online in registers (the S accumulators become P's fragments in place);
//   - blocks of the latest rows, which see the most context, start first.
#include <cuda_bf16.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kNope = kMlaPrefillNopeDim, kRope = kMlaRopeDim, kQk = kNope + kRope, kV = kMlaPrefillValueDim;
constexpr int kWarps = 8, kThreads = kWarps * 32;
constexpr int kRowsPerBlock = kWarps * 16;
constexpr int kKeysPerTile = 64;
constexpr int kStages = 3;
// Rows padded by 16 bytes: a row then starts 4 banks after the one before, so the 8 rows of a
// fragment read cover all 32 banks.
constexpr int kKPitch = kQk + 8, kVPitch = kV + 8;
constexpr int kStageElems = kKeysPerTile * (kKPitch + kVPitch);
constexpr std::size_t kSharedBytes = std::size_t{kStages} * kStageElems * sizeof(bf16);
constexpr float kLog2e = 1.4426950408889634f;

// The key tile `tile` (positions tile·64..+63) into one stage: each position's k_nope (from the
// expanded kv), its rope key, and its value. Positions past the context are zero-filled, so that a
// masked key's value contributes 0·0, never 0·garbage.
__device__ __forceinline__ void load_tile(const MlaPrefillArgs& a, int head, int tile, bf16* stage) {
  bf16* keys = stage;
  bf16* values = stage + kKeysPerTile * kKPitch;
  const int64_t kv_stride = static_cast<int64_t>(a.heads) * (kNope + kV);
  constexpr int kKChunks = kQk / 8, kVChunks = kV / 8;  // 16-byte pieces per row
  for (int i = threadIdx.x; i < kKeysPerTile * (kKChunks + kVChunks); i += kThreads) {
    const bool is_key = i < kKeysPerTile * kKChunks;
    const int j = is_key ? i : i - kKeysPerTile * kKChunks;
    const int chunks = is_key ? kKChunks : kVChunks;
    const int row = j / chunks, chunk = j % chunks;
    const int pos = tile * kKeysPerTile + row;
    const bool valid = pos < a.context;
    const int64_t p = valid ? pos : 0;
    const bf16* src;
    bf16* dst;
    if (!is_key) {
      src = a.kv + p * kv_stride + head * (kNope + kV) + kNope + chunk * 8;
      dst = values + row * kVPitch + chunk * 8;
    } else if (chunk < kNope / 8) {
      src = a.kv + p * kv_stride + head * (kNope + kV) + chunk * 8;
      dst = keys + row * kKPitch + chunk * 8;
    } else {
      src = a.k_rope + p * kRope + (chunk - kNope / 8) * 8;
      dst = keys + row * kKPitch + chunk * 8;
    }
    cp_async16(dst, src, valid);
  }
}

// grid (ceil(rows / 64), heads), kThreads threads, kSharedBytes of dynamic shared memory.
__global__ void __launch_bounds__(kThreads) mla_prefill_kernel(MlaPrefillArgs a) {
  begin_dependent_kernel();
  extern __shared__ __align__(16) unsigned char shared_raw[];
  bf16* shared = reinterpret_cast<bf16*>(shared_raw);

  const int head = blockIdx.y;
  const int block_row = (gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;  // the latest rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the mma fragment's row group and column pair
  const int start = a.context - a.rows;  // the new rows' first position
  const int warp_row = block_row + warp * 16;

  // This warp's query rows as A fragments over the 192 dims (12 steps of 16), zero past the rows.
  uint32_t qa[kQk / 16][4];
#pragma unroll
  for (int ks = 0; ks < kQk / 16; ++ks)
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // a0/a1: dims 2t, 2t+1; a2/a3: dims 2t+8, 2t+9
      const int dim = ks * 16 + half * 8 + 2 * t;
#pragma unroll
      for (int up = 0; up < 2; ++up) {  // rows g and g+8
        const int row = warp_row + g + up * 8;
        uint32_t v = 0;
        if (row < a.rows) {
          const bf16* src = dim < kNope ? a.q_nope + row * a.q_nope_stride + head * a.q_nope_head_stride + dim
                                        : a.q_rope + row * a.q_rope_stride + head * a.q_rope_head_stride + (dim - kNope);
          v = *reinterpret_cast<const uint32_t*>(src);
        }
        qa[ks][half * 2 + up] = v;
      }
    }

  float o[kV / 8][4];
#pragma unroll
  for (int nt = 0; nt < kV / 8; ++nt) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const float scale_log2 = a.scale * kLog2e;
  // Row g's and g+8's positions: each sees keys 0..position.
  const int position[2] = {start + warp_row + g, start + warp_row + g + 8};

  const int last_row = min(block_row + kRowsPerBlock, a.rows) - 1;
  const int tiles = (start + last_row) / kKeysPerTile + 1;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < tiles) load_tile(a, head, s, shared + s * kStageElems);
    cp_async_commit();
  }
  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    // Refill the stage every warp finished reading in the previous iteration.
    if (const int next = tile + kStages - 1; next < tiles) load_tile(a, head, next, shared + (next % kStages) * kStageElems);
    cp_async_commit();
    const bf16* keys = shared + (tile % kStages) * kStageElems;
    const bf16* values = keys + kKeysPerTile * kKPitch;
    const int key0 = tile * kKeysPerTile;

    // The warp's rows past every key of this tile have nothing to skip; rows before all of it
    // (only in the first warps of the diagonal tile) see none of it, and skip its arithmetic.
    if (key0 <= start + warp_row + 15) {
      // S = Q·Kᵀ: 8 n-tiles of 8 keys. B's "col" fragment is two consecutive dims of one key, so
      // one ldmatrix of keys' rows gives two n-tiles' fragments: kb[0..1] and kb[2..3].
      float s[kKeysPerTile / 8][4];
#pragma unroll
      for (int nt = 0; nt < kKeysPerTile / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < kQk / 16; ++ks)
#pragma unroll
        for (int pair = 0; pair < kKeysPerTile / 16; ++pair) {
          uint32_t kb[4];
          ldmatrix_x4(kb, keys + (pair * 16 + lane % 8 + (lane / 16) * 8) * kKPitch + ks * 16 + ((lane / 8) % 2) * 8);
          mma_bf16(s[2 * pair], qa[ks], kb[0], kb[1]);
          mma_bf16(s[2 * pair + 1], qa[ks], kb[2], kb[3]);
        }

      // Online softmax, in base 2; element e of n-tile nt is row g + 8·(e / 2), key 2t + (e % 2).
      float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int nt = 0; nt < kKeysPerTile / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + nt * 8 + 2 * t + (e % 2);
          const float v = key <= position[e / 2] ? s[nt][e] * scale_log2 : -INFINITY;
          s[nt][e] = v;
          tile_max[e / 2] = fmaxf(tile_max[e / 2], v);
        }
      float rescale[2];
#pragma unroll
      for (int up = 0; up < 2; ++up) {
        tile_max[up] = fmaxf(tile_max[up], __shfl_xor_sync(0xffffffffu, tile_max[up], 1));
        tile_max[up] = fmaxf(tile_max[up], __shfl_xor_sync(0xffffffffu, tile_max[up], 2));
        const float next = fmaxf(row_max[up], tile_max[up]);
        // A row that has seen no key yet (-inf both) keeps nothing to rescale.
        rescale[up] = next == -INFINITY ? 1.f : ex2(row_max[up] - next);
        row_max[up] = next;
        row_sum[up] *= rescale[up];
      }
#pragma unroll
      for (int nt = 0; nt < kV / 8; ++nt) {
        o[nt][0] *= rescale[0];
        o[nt][1] *= rescale[0];
        o[nt][2] *= rescale[1];
        o[nt][3] *= rescale[1];
      }
      // P = 2^(s - max), as bf16 A fragments of 16 keys each (n-tiles 2c and 2c+1).
      uint32_t pa[kKeysPerTile / 16][4];
#pragma unroll
      for (int c = 0; c < kKeysPerTile / 16; ++c)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          float p[4];
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float m = row_max[e / 2];
            p[e] = m == -INFINITY ? 0.f : ex2(s[2 * c + half][e] - m);
            row_sum[e / 2] += p[e];
          }
          pa[c][half * 2] = pack_bf16(p[0], p[1]);
          pa[c][half * 2 + 1] = pack_bf16(p[2], p[3]);
        }
      // O += P·V: per 16 keys, ldmatrix.trans gives two n-tiles' B fragments from V's rows.
#pragma unroll
      for (int c = 0; c < kKeysPerTile / 16; ++c)
#pragma unroll
        for (int dn = 0; dn < kV / 16; ++dn) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, values + (c * 16 + (lane & 15)) * kVPitch + dn * 16 + (lane >> 4) * 8);
          mma_bf16(o[2 * dn], pa[c], b[0], b[1]);
          mma_bf16(o[2 * dn + 1], pa[c], b[2], b[3]);
        }
    }
  }
  cp_async_wait<0>();  // no copy may still be landing when the block exits

  // The row sums were kept per thread (each over its own keys); the quad holds the whole row.
#pragma unroll
  for (int up = 0; up < 2; ++up) {
    row_sum[up] += __shfl_xor_sync(0xffffffffu, row_sum[up], 1);
    row_sum[up] += __shfl_xor_sync(0xffffffffu, row_sum[up], 2);
  }
#pragma unroll
  for (int up = 0; up < 2; ++up) {
    const int row = warp_row + g + up * 8;
    if (row >= a.rows) continue;
    const float inv = 1.f / row_sum[up];
    bf16* out = a.out + row * a.out_stride + head * a.out_head_stride;
#pragma unroll
    for (int nt = 0; nt < kV / 8; ++nt)
      *reinterpret_cast<__nv_bfloat162*>(out + nt * 8 + 2 * t) =
          __floats2bfloat162_rn(o[nt][up * 2] * inv, o[nt][up * 2 + 1] * inv);
  }
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
  static std::atomic<uint64_t> shared_set{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(mla_prefill_kernel), kSharedBytes, shared_set);
  const dim3 grid((a.rows + kRowsPerBlock - 1) / kRowsPerBlock, a.heads);
  launch_dependent(mla_prefill_kernel, grid, dim3(kThreads), kSharedBytes, stream, a);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
