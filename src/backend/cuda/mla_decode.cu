// MLA absorbed decode attention over the paged latent cache, flash-decoding style.
//
// Why it is fast. Decode attention is bound by reading the cache: each cached token is 576 bf16
// (1152 bytes) and every head of the sequence attends to it. So:
//  - one CTA handles ALL heads of one sequence (16 per CTA; grid.y tiles larger head counts, and
//    those CTAs of one chunk run side by side so the re-read hits L2) for one chunk of its
//    context: each latent is read from HBM once per sequence, not once per head;
//  - the context is split into chunks (grid.x) so that batch × chunks CTAs fill the chip even at
//    small batch; a second kernel merges the chunks' partial softmax states;
//  - tiles of 32 tokens are copied from the paged blocks with 16-byte cp.async (a token's 1152
//    bytes are 72 consecutive 16-byte pieces: consecutive threads, consecutive addresses),
//    double-buffered so the next tile is in flight while this one is computed;
//  - both products run on tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate):
//    S[16 heads, 32 tokens] = Q·Kᵀ over 576 dims, then O[16, 512] += P·V with V = the latent
//    itself; with 16 heads the work is ~30 FLOP per cache byte, too much for fp32 FMA units to
//    keep up with HBM;
//  - softmax is online (running max and sum per head), so the tile is consumed once.
// Shared-memory rows are padded by 16 bytes (584 bf16) so the fragment loads of 8 rows × 4
// words fall in 32 distinct banks.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kEntry = kMlaEntryDim;     // 576
constexpr int kLatent = kMlaLatentDim;   // 512
constexpr int kTile = 32;                // tokens per tile
constexpr int kThreads = 128;            // 4 warps
constexpr int kHeadTile = 16;            // heads per CTA (the mma's M)
constexpr int kRow = kEntry + 8;         // padded smem row, bf16 elements (1168 bytes)
constexpr int kChunks = kEntry / 8;      // 16-byte pieces per entry
constexpr int kSRow = kTile + 8;         // score row, floats
constexpr int kPRow = kTile + 8;         // probability row, bf16
constexpr int kDimsPerWarp = kLatent / (kThreads / 32);  // 128 output dims per warp
constexpr int kNTiles = kDimsPerWarp / 8;                // 16 mma n-tiles per warp

constexpr std::size_t kSmemK = 2ull * kTile * kRow * sizeof(bf16);
constexpr std::size_t kSmemQ = std::size_t{kHeadTile} * kRow * sizeof(bf16);
constexpr std::size_t kSmemS = std::size_t{kHeadTile} * kSRow * sizeof(float);
constexpr std::size_t kSmemP = std::size_t{kHeadTile} * kPRow * sizeof(bf16);
constexpr std::size_t kSmemAlpha = std::size_t{kHeadTile} * sizeof(float);
constexpr std::size_t kSmemBytes = kSmemK + kSmemQ + kSmemS + kSmemP + kSmemAlpha;
static_assert(kSmemK % 16 == 0 && kSmemQ % 16 == 0 && kSmemS % 16 == 0 && kSmemP % 16 == 0);
static_assert(kTile * kChunks % kThreads == 0 && kTile == 8 * (kThreads / 32));

struct Params {
  MlaDecodeArgs a;
  int splits;
  int chunk;
  float* o_part;   // [batch, heads, splits, 512], unnormalised Σ p·v of each chunk
  float2* ml;      // [batch, heads, splits]: running max m and sum l of each chunk
};

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ uint32_t ld32(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint32_t pack2(bf16 lo, bf16 hi) {
  return static_cast<uint32_t>(__bfloat16_as_ushort(lo)) | (static_cast<uint32_t>(__bfloat16_as_ushort(hi)) << 16);
}

// D += A·B for one m16n8k16 tile: A row-major 16×16, B "col" 16×8, fp32 accumulators.
__device__ __forceinline__ void mma_bf16(float* d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Fragment layout (PTX ISA, mma.m16n8k16): lane = 4g + t. A: a0 = (row g, cols 2t,2t+1),
// a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..). B: b0 = (k 2t,2t+1; n g),
// b1 = (k 2t+8,2t+9; n g). C: c0,c1 = (g, 2t,2t+1), c2,c3 = (g+8, 2t,2t+1). Lower k in low half.
__global__ void __launch_bounds__(kThreads) mla_decode_chunk_kernel(Params p) {
  const MlaDecodeArgs& a = p.a;
  const int split = blockIdx.x, h0 = blockIdx.y * kHeadTile, b = blockIdx.z;
  const int ctx = a.context_lens[b];
  const int begin = split * p.chunk;
  const int end = min(ctx, begin + p.chunk);
  if (begin >= end) return;  // an empty chunk writes nothing; the merge skips it

  extern __shared__ __align__(16) unsigned char smem[];
  bf16* kbuf = reinterpret_cast<bf16*>(smem);
  bf16* qs = reinterpret_cast<bf16*>(smem + kSmemK);
  float* ss = reinterpret_cast<float*>(smem + kSmemK + kSmemQ);
  bf16* ps = reinterpret_cast<bf16*>(smem + kSmemK + kSmemQ + kSmemS);
  float* alpha_s = reinterpret_cast<float*>(smem + kSmemK + kSmemQ + kSmemS + kSmemP);

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.block_table_stride;

  auto load_tile = [&](int tile_start, int buf) {
    bf16* dst = kbuf + buf * kTile * kRow;
#pragma unroll
    for (int i = 0; i < kTile * kChunks / kThreads; ++i) {
      const int c = tid + i * kThreads, r = c / kChunks, piece = c % kChunks;
      const int pos = tile_start + r;
      const bf16* src = a.cache;  // a valid address even when nothing is read
      int bytes = 0;
      if (pos < end) {
        const int64_t block = table[pos / a.block_size];
        src = a.cache + (block * a.block_size + pos % a.block_size) * kEntry + piece * 8;
        bytes = 16;
      }
      cp_async16(dst + r * kRow + piece * 8, src, bytes);  // bytes = 0: zero-fill past the end
    }
    cp_async_commit();
  };

  load_tile(begin, 0);
  // Q of this CTA's heads (rows past `heads` are zero and their outputs are never stored).
  for (int c = tid; c < kHeadTile * kChunks; c += kThreads) {
    const int r = c / kChunks, piece = c % kChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (h0 + r < a.heads)
      v = *reinterpret_cast<const uint4*>(a.q + (static_cast<int64_t>(b) * a.heads + h0 + r) * kEntry + piece * 8);
    *reinterpret_cast<uint4*>(qs + r * kRow + piece * 8) = v;
  }

  float acc[kNTiles][4];
#pragma unroll
  for (int n = 0; n < kNTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
  // Softmax state of head (tid / 8), replicated across its 8 threads.
  const int sm_head = tid / 8, sm_part = tid % 8;
  float m_run = -INFINITY, l_run = 0.f;

  const int tiles = (end - begin + kTile - 1) / kTile;
  for (int it = 0; it < tiles; ++it) {
    const int tile_start = begin + it * kTile;
    if (it + 1 < tiles) {
      load_tile(tile_start + kTile, (it + 1) & 1);
      cp_async_wait<1>();  // this thread's pieces of tile `it` have landed
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // everyone's pieces (and Q, on the first tile) are visible
    const bf16* ks = kbuf + (it & 1) * kTile * kRow;

    {  // S = Q·Kᵀ: warp w scores tokens 8w..8w+7 for all 16 heads.
      float c[4] = {0.f, 0.f, 0.f, 0.f};
      const bf16* krow = ks + (warp * 8 + g) * kRow + 2 * t;
      const bf16* q0 = qs + g * kRow + 2 * t;
      const bf16* q1 = qs + (g + 8) * kRow + 2 * t;
#pragma unroll 6
      for (int k0 = 0; k0 < kEntry; k0 += 16)
        mma_bf16(c, ld32(q0 + k0), ld32(q1 + k0), ld32(q0 + k0 + 8), ld32(q1 + k0 + 8), ld32(krow + k0),
                 ld32(krow + k0 + 8));
      const int n = warp * 8 + 2 * t;
      ss[g * kSRow + n] = c[0] * a.scale;
      ss[g * kSRow + n + 1] = c[1] * a.scale;
      ss[(g + 8) * kSRow + n] = c[2] * a.scale;
      ss[(g + 8) * kSRow + n + 1] = c[3] * a.scale;
    }
    __syncthreads();

    {  // Online softmax: 8 threads per head, 4 tokens each.
      const int valid = min(kTile, end - tile_start);  // >= 1
      float s[4], mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int tok = sm_part * 4 + j;
        s[j] = tok < valid ? ss[sm_head * kSRow + tok] : -INFINITY;
        mx = fmaxf(mx, s[j]);
      }
#pragma unroll
      for (int offset = 1; offset < 8; offset <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, offset));
      const float m_new = fmaxf(m_run, mx);  // finite: token 0 of the tile is valid
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const bf16 pj = __float2bfloat16(expf(s[j] - m_new));
        ps[sm_head * kPRow + sm_part * 4 + j] = pj;
        sum += __bfloat162float(pj);  // the sum of exactly the weights P·V uses
      }
#pragma unroll
      for (int offset = 1; offset < 8; offset <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      const float alpha = expf(m_run - m_new);  // 0 on the first tile (m_run = -inf)
      l_run = l_run * alpha + sum;
      m_run = m_new;
      if (sm_part == 0) alpha_s[sm_head] = alpha;
    }
    __syncthreads();

    {  // O = O·alpha + P·V: warp w owns output dims 128w..128w+127.
      const float al0 = alpha_s[g], al1 = alpha_s[g + 8];
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        acc[n][0] *= al0;
        acc[n][1] *= al0;
        acc[n][2] *= al1;
        acc[n][3] *= al1;
      }
#pragma unroll
      for (int k16 = 0; k16 < kTile / 16; ++k16) {
        const bf16* p0 = ps + g * kPRow + k16 * 16 + 2 * t;
        const bf16* p1 = ps + (g + 8) * kPRow + k16 * 16 + 2 * t;
        const uint32_t a0 = ld32(p0), a1 = ld32(p1), a2 = ld32(p0 + 8), a3 = ld32(p1 + 8);
        const bf16* v = ks + (k16 * 16 + 2 * t) * kRow + warp * kDimsPerWarp + g;
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) {
          const bf16* vn = v + n * 8;
          const uint32_t b0 = pack2(vn[0], vn[kRow]);
          const uint32_t b1 = pack2(vn[8 * kRow], vn[9 * kRow]);
          mma_bf16(acc[n], a0, a1, a2, a3, b0, b1);
        }
      }
    }
    __syncthreads();  // the next iteration's copy overwrites this buffer; ss/ps are rewritten
  }

  const int64_t row0 = static_cast<int64_t>(b) * a.heads + h0;
  const int hg0 = h0 + g, hg1 = h0 + g + 8;
#pragma unroll
  for (int n = 0; n < kNTiles; ++n) {
    const int d = warp * kDimsPerWarp + n * 8 + 2 * t;
    if (hg0 < a.heads)
      *reinterpret_cast<float2*>(p.o_part + ((row0 + g) * p.splits + split) * kLatent + d) =
          make_float2(acc[n][0], acc[n][1]);
    if (hg1 < a.heads)
      *reinterpret_cast<float2*>(p.o_part + ((row0 + g + 8) * p.splits + split) * kLatent + d) =
          make_float2(acc[n][2], acc[n][3]);
  }
  if (sm_part == 0 && h0 + sm_head < a.heads) p.ml[(row0 + sm_head) * p.splits + split] = make_float2(m_run, l_run);
}

// Merge the chunks of one (sequence, head): out = Σ e^(m_i − M) o_i / Σ e^(m_i − M) l_i.
// 128 threads × 4 dims; the chunk states are a few floats each and stay in L1.
__global__ void __launch_bounds__(128) mla_decode_merge_kernel(Params p) {
  const MlaDecodeArgs& a = p.a;
  const int h = blockIdx.x, b = blockIdx.y, d = threadIdx.x * 4;
  const int64_t row = static_cast<int64_t>(b) * a.heads + h;
  const int ctx = a.context_lens[b];
  const int active = min(p.splits, (ctx + p.chunk - 1) / p.chunk);
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
  if (active > 0) {
    const float2* ml = p.ml + row * p.splits;
    float m = -INFINITY;
    for (int i = 0; i < active; ++i) m = fmaxf(m, ml[i].x);
    float l = 0.f;
    for (int i = 0; i < active; ++i) {
      const float w = expf(ml[i].x - m);
      const float4 oi = *reinterpret_cast<const float4*>(p.o_part + (row * p.splits + i) * kLatent + d);
      o.x += w * oi.x;
      o.y += w * oi.y;
      o.z += w * oi.z;
      o.w += w * oi.w;
      l += w * ml[i].y;
    }
    const float inv = 1.f / l;
    o.x *= inv, o.y *= inv, o.z *= inv, o.w *= inv;
  }
  bf16* out = a.out + row * kLatent + d;
  *reinterpret_cast<__nv_bfloat162*>(out) = __floats2bfloat162_rn(o.x, o.y);
  *reinterpret_cast<__nv_bfloat162*>(out + 2) = __floats2bfloat162_rn(o.z, o.w);
}

}  // namespace

MlaDecodePlan plan_mla_decode(const MlaDecodeArgs& a, int sm_count) {
  const int head_tiles = (a.heads + kHeadTile - 1) / kHeadTile;
  const int max_tiles = std::max(1, (a.max_context + kTile - 1) / kTile);
  // About four CTAs per SM (two resident, two waves) and at least four tiles per chunk, so the
  // copy pipeline fills and the merge stays small.
  const int64_t ctas = static_cast<int64_t>(a.batch) * head_tiles;
  int splits = static_cast<int>(std::clamp<int64_t>((4ll * sm_count + ctas - 1) / std::max<int64_t>(ctas, 1), 1, 64));
  splits = std::min(splits, std::max(1, max_tiles / 4));
  const int tiles_per_chunk = (max_tiles + splits - 1) / splits;
  const int chunk = tiles_per_chunk * kTile;
  return {(max_tiles + tiles_per_chunk - 1) / tiles_per_chunk, chunk};
}

std::size_t mla_decode_workspace_bytes(const MlaDecodeArgs& a, const MlaDecodePlan& plan) {
  const std::size_t states = static_cast<std::size_t>(a.batch) * a.heads * plan.splits;
  return states * kLatent * sizeof(float) + states * sizeof(float2);
}

void mla_decode(const MlaDecodeArgs& a, const MlaDecodePlan& plan, void* workspace, std::size_t workspace_bytes,
                cudaStream_t stream) {
  if (a.batch <= 0 || a.heads <= 0) return;
  if (a.block_size <= 0 || a.max_context < 0) throw Error("mla_decode: block_size must be positive");
  if (plan.splits < 1 || plan.chunk % kTile != 0 ||
      static_cast<int64_t>(plan.splits) * plan.chunk < a.max_context)
    throw Error("mla_decode: the plan does not cover max_context (use plan_mla_decode)");
  if (workspace_bytes < mla_decode_workspace_bytes(a, plan)) throw Error("mla_decode: workspace too small");
  if (reinterpret_cast<uintptr_t>(a.q) % 16 != 0 || reinterpret_cast<uintptr_t>(a.cache) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(a.out) % 16 != 0 || reinterpret_cast<uintptr_t>(workspace) % 16 != 0)
    throw Error("mla_decode: q, cache, out and workspace must be 16-byte aligned");

  // 95 KB of shared memory: above the default 48 KB limit (two CTAs still fit on an SM). Set on
  // every call, since the attribute belongs to the current device's context.
  TIDE_CUDA_CHECK(cudaFuncSetAttribute(mla_decode_chunk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(kSmemBytes)));
  Params p{a, plan.splits, plan.chunk, static_cast<float*>(workspace), nullptr};
  p.ml = reinterpret_cast<float2*>(p.o_part + static_cast<std::size_t>(a.batch) * a.heads * plan.splits * kLatent);
  const dim3 grid(static_cast<unsigned>(plan.splits), static_cast<unsigned>((a.heads + kHeadTile - 1) / kHeadTile),
                  static_cast<unsigned>(a.batch));
  mla_decode_chunk_kernel<<<grid, kThreads, kSmemBytes, stream>>>(p);
  TIDE_CUDA_CHECK_LAUNCH();
  mla_decode_merge_kernel<<<dim3(static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch)), 128, 0, stream>>>(p);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
