// MLA absorbed decode attention over the paged latent cache, flash-decoding style.
//
// Why it is fast. Decode attention is bound by reading the cache: each cached token is 576 bf16
// (1152 bytes) and every head of the sequence attends to it. So:
//  - one CTA handles 16 heads of one sequence (grid.x tiles larger head counts; those CTAs of one
//    chunk are adjacent in launch order, run side by side, and their re-reads hit L2) for one
//    chunk of its context: each latent is read from HBM once per sequence, not once per head;
//  - the context is split into chunks (grid.y) so that the CTAs fill the chip in whole waves (one
//    CTA per SM, ~195 KB of shared memory); a second kernel merges the chunks' partial softmax
//    states (launched early, programmatic dependent launch), and is skipped for one chunk;
//  - a producer warp streams tiles of 32 tokens into a ring of kStages shared-memory slots with
//    the bulk copy engine: one cp.async.bulk per token (its 1152 bytes are contiguous in its
//    page), completing on the slot's "full" mbarrier; the compute warps release a slot on its
//    "empty" mbarrier. So several tiles stay in flight per SM and the compute warps spend no
//    instructions on copies or block-table lookups. Positions past the chunk's end copy its
//    last token again (finite data; their scores are masked to -inf). The producer warpgroup
//    hands most of its registers to the compute warps (setmaxnreg);
//  - 8 compute warps in two groups of 4 take alternate tiles, each group with its own softmax
//    state and O, combined at the end: while one group is in its softmax the other keeps the
//    tensor cores busy (measured: compute alone 0.121 → 0.084 ms at 64×8k);
//  - both products run on tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate), fragments
//    loaded with ldmatrix (ldmatrix.trans for V). In a group, S[16 heads, 32 tokens] = Q·Kᵀ over
//    576 dims: warp gw takes tokens 16(gw%2)..+15 and half of the dims (Q's fragments of that
//    half stay in registers); O[16, 512] += P·V with V = the latent itself: warp gw owns dims
//    128gw..+127;
//  - softmax is online (running max per head, base 2; the running sum is one more mma, P·ones,
//    so it is the sum of exactly the bf16 weights P·V uses). Every warp of the group reads the
//    two partial score halves and computes the same softmax itself, straight into the A
//    fragments of P·V (the C layout of one mma is the A layout of the next): one barrier of the
//    group per tile. O is rescaled only when some head's max moved.
// Shared-memory rows are padded by 16 bytes (584 bf16, 73 16-byte units) so the 8 rows of an
// ldmatrix fall in distinct banks.
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/dynamic_shared_memory.h"
#include "backend/cuda/mma_tiles.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

constexpr int kEntry = kMlaEntryDim;     // 576
constexpr int kLatent = kMlaLatentDim;   // 512
constexpr int kTile = 32;                // tokens per tile
constexpr int kWarps = 8;                // compute warps, two groups of 4; then a producer warpgroup
constexpr int kGroupWarps = 4;
constexpr int kThreads = 32 * (kWarps + 4);
// Registers: 12 warps share each SM sub-partition's 16K registers 3 to a partition, 168 each at
// launch; the producer warpgroup gives most of its share to the compute warps (setmaxnreg).
constexpr int kProducerRegs = 56;
constexpr int kComputeRegs = 224;
constexpr int kHeadTile = 16;            // heads per CTA (the mma's M)
constexpr int kRow = kEntry + 8;         // padded smem row, bf16 elements (1168 bytes)
constexpr int kPieces = kEntry / 8;      // 16-byte pieces per entry
constexpr int kKSteps = kEntry / 16;     // 36 k-steps of Q·Kᵀ
constexpr int kKHalf = kKSteps / 2;      // 18 per warp
constexpr int kSRow = kTile + 8;         // score row, floats
constexpr int kDimsPerWarp = kLatent / kGroupWarps;  // 128 output dims per warp
constexpr int kNTiles = kDimsPerWarp / 8;            // 16 mma n-tiles per warp
constexpr int kXRow = kLatent + 8;  // the groups' exchange of O at the end, padded floats
static_assert(kTile == 32 && kWarps == 2 * kGroupWarps && kKSteps % 2 == 0);

constexpr std::size_t kStageBytes = std::size_t{kTile} * kRow * sizeof(bf16);
constexpr std::size_t kSmemS = 2ull * 2 * kHeadTile * kSRow * sizeof(float);  // [group][dim half][head][token]
// The ring, the partial scores, and the mbarriers: full and empty per slot, and "scores read"
// per group. Q is staged in the ring's last slot before the producer first fills it; at the end
// the ring's first slot holds one group's O, max and sum for the other.
template <int kStages>
constexpr std::size_t smem_bytes() {
  return kStages * kStageBytes + kSmemS + (2ull * kStages + 2) * sizeof(uint64_t);
}
static_assert(kStageBytes % 16 == 0 && kSmemS % 16 == 0 && kHeadTile <= kTile);
static_assert((kHeadTile * kXRow + 4 * kHeadTile) * sizeof(float) <= kStageBytes);

// An even count, so that each slot is only ever filled for one group (group = tile % 2 = slot % 2).
// The waits on a slot's barriers tell phases apart by parity alone, which is sound only while
// no waiter can be a whole phase ahead of the barrier. With an odd count a slot alternates
// between the groups, and a group running ahead could find the slot's barrier still at the other
// group's previous phase, of the same parity: it would read a tile that had not landed and
// arrive in the other group's phase (seen as hangs and launch failures at 64×8k, 5 stages).
// Measured at 64×8k (H200): 3, 4 and 5 stages within 2% of each other once the groups overlap.
constexpr int kRingStages = 4;
static_assert(kRingStages % 2 == 0, "each ring slot must belong to one group of compute warps");
// Copies are issued by all 4 warps of the producer warpgroup, each announcing its own bytes on
// the tile's barrier (a first form with one byte count for the whole tile hung at load).
// Measured at 64×8k on an H200: 1 warp 74.9%, 2 warps 86.5%, 4 warps 89.4% of the copy rate:
// one warp cannot issue 32 bulk copies per tile fast enough to keep the ring full.
constexpr int kCopyWarps = 4;

struct Params {
  MlaDecodeArgs a;
  int splits;
  int chunk;
  float scale_log2;  // scale · log2(e): scores in base 2
  float* o_part;     // [batch, heads, splits, 512], unnormalised Σ p·v of each chunk
  float2* ml;        // [batch, heads, splits]: running max m (base 2) and sum l of each chunk
  int copy_warps;    // warps of the producer warpgroup that issue copies: 1, 2 or 4 (kCopyWarps)
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
  const uint32_t addr = smem_addr(bar);
  uint32_t done = 0;
  while (true) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(addr), "r"(parity)
        : "memory");
    if (done) return;
  }
}
// Global → shared through the bulk copy engine, completing `bytes` on the mbarrier.
__device__ __forceinline__ void bulk_copy(uint32_t dst, const void* src, unsigned bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(smem_addr(bar))
               : "memory");
}
__device__ __forceinline__ void ldsm_x4(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// The cache row (block · block_size + offset) of context position pos; past the chunk's end, that
// of its last position.
__device__ __forceinline__ int64_t cache_row(const int32_t* table, int block_size, int pos, int end) {
  pos = min(pos, end - 1);
  return static_cast<int64_t>(table[pos / block_size]) * block_size + pos % block_size;
}

// Fragment layout (PTX ISA, mma.m16n8k16): lane = 4g + t. A: a0 = (row g, cols 2t,2t+1),
// a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..). B: b0 = (k 2t,2t+1; n g),
// b1 = (k 2t+8,2t+9; n g). C: c0,c1 = (g, 2t,2t+1), c2,c3 = (g+8, 2t,2t+1). Lower k in low half.
template <int kStages>
__global__ void __launch_bounds__(kThreads, 1) mla_decode_chunk_kernel(Params p) {
  // The merge (or the step's next kernel) is let in once the chunks are done, further down.
  wait_for_prior_grids();
  const MlaDecodeArgs& a = p.a;
  const int h0 = blockIdx.x * kHeadTile, split = blockIdx.y, b = blockIdx.z;
  const int ctx = a.context_lens[b];
  const int begin = split * p.chunk;
  const int end = min(ctx, begin + p.chunk);
  if (begin >= end) return;  // an empty chunk writes nothing; the merge skips it

  extern __shared__ __align__(16) unsigned char smem[];
  bf16* kbuf = reinterpret_cast<bf16*>(smem);
  bf16* qs = kbuf + (kStages - 1) * kTile * kRow;
  float* ss = reinterpret_cast<float*>(smem + kStages * kStageBytes);  // [2][2][16][kSRow]
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + kStages * kStageBytes + kSmemS);
  uint64_t* empty = full + kStages;
  uint64_t* scores_read = empty + kStages;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int tiles = (end - begin + kTile - 1) / kTile;
  const uint32_t kbuf_s = smem_addr(kbuf);

  // Q of this CTA's heads (rows past `heads` are zero and their outputs are never stored).
  for (int c = tid; c < kHeadTile * kPieces; c += kThreads) {
    const int r = c / kPieces, piece = c % kPieces;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (h0 + r < a.heads)
      v = *reinterpret_cast<const uint4*>(a.q + (static_cast<int64_t>(b) * a.heads + h0 + r) * kEntry + piece * 8);
    *reinterpret_cast<uint4*>(qs + r * kRow + piece * 8) = v;
  }
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbar_init(full + i, p.copy_warps);  // each copying warp's arrive (with its bytes)
      mbar_init(empty + i, kGroupWarps);  // one arrive per warp of the group that computes it
    }
    mbar_init(scores_read, kGroupWarps);
    mbar_init(scores_read + 1, kGroupWarps);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();  // the only barrier of all 12 warps

  // Shared-memory slot j % kStages may be refilled once Q has been read (slot kStages-1 holds it).
  const unsigned q_ready = 32 * kWarps + 32 * p.copy_warps;  // named barrier 2's threads
  if (warp >= kWarps) {  // the producer warpgroup: warp pw copies tokens pw·per .. of each tile
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
    const int pw = warp - kWarps;
    if (pw >= p.copy_warps) return;
    const int per = kTile / p.copy_warps, tok = pw * per + lane;
    const bool copies = lane < per;
    const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.block_table_stride;
    int64_t row = copies ? cache_row(table, a.block_size, begin + tok, end) : 0;
    for (int j = 0; j < tiles; ++j) {
      const int slot = j % kStages;
      if (j == kStages - 1) asm volatile("bar.sync 2, %0;\n" ::"r"(q_ready) : "memory");
      if (j >= kStages) mbar_wait(empty + slot, (j / kStages - 1) & 1);
      // Each copying warp announces its own bytes before its copies: the slot is full once every
      // copying warp has arrived and all the bytes have landed.
      if (lane == 0) mbar_arrive_expect_tx(full + slot, per * kEntry * sizeof(bf16));
      __syncwarp();
      if (copies) {
        bulk_copy(kbuf_s + static_cast<uint32_t>(slot * kStageBytes + tok * kRow * sizeof(bf16)),
                  a.cache + row * kEntry, kEntry * sizeof(bf16), full + slot);
        if (j + 1 < tiles) row = cache_row(table, a.block_size, begin + (j + 1) * kTile + tok, end);
      }
    }
    if (tiles < kStages) asm volatile("bar.sync 2, %0;\n" ::"r"(q_ready) : "memory");
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kComputeRegs));

  // Two groups of 4 warps take alternate tiles (group 0 the even ones), each with its own softmax
  // state and O, combined at the end: while one group does its softmax the other keeps the
  // tensor cores busy. In a group, warp gw computes Q·Kᵀ for tokens 16(gw%2)..+15 over half the
  // dims (kh = gw/2; Q's fragments of that half stay in registers) and owns O's dims 128gw..+127.
  const int grp = warp / kGroupWarps, gw = warp % kGroupWarps;
  const int np = gw % 2, kh = gw / 2;
  uint32_t qa[kKHalf][4];
  {
    const int row = (lane & 7) + ((lane >> 3) & 1) * 8, col = (lane >> 4) * 8;
#pragma unroll
    for (int ks = 0; ks < kKHalf; ++ks)
      ldsm_x4(qa[ks], smem_addr(qs + row * kRow + (kh * kKHalf + ks) * 16 + col));
  }
  // Q's slot may be filled now (the producer waits for this before tile kStages-1).
  asm volatile("bar.arrive 2, %0;\n" ::"r"(q_ready) : "memory");
  // ldmatrix row addresses (bytes within a stage). K: token 16np + (lane & 7) + 8·(lane >> 4),
  // dims + 8·((lane >> 3) & 1): b0, b1 of n-tile 2np, then of 2np+1.
  const uint32_t k_off = static_cast<uint32_t>(
      ((np * 16 + (lane & 7) + (lane >> 4) * 8) * kRow + kh * kKHalf * 16 + ((lane >> 3) & 1) * 8) * sizeof(bf16));
  // V (trans): token (lane & 7) + 8·((lane >> 3) & 1), dims 128·gw + 8·(lane >> 4).
  const uint32_t v_off = static_cast<uint32_t>(
      (((lane & 7) + ((lane >> 3) & 1) * 8) * kRow + gw * kDimsPerWarp + (lane >> 4) * 8) * sizeof(bf16));
  float* sbuf = ss + grp * 2 * kHeadTile * kSRow;
  const uint32_t bar_id = 1 + 2 * grp;  // named barriers 1 and 3: one group's 128 threads

  float acc[kNTiles][4];
#pragma unroll
  for (int n = 0; n < kNTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
  // Softmax state of heads g and g+8, the same in the group's warps and in the 4 lanes of a
  // quad: the running max m (base 2), and the running sum as an mma accumulator, P·ones,
  // rescaled with O: the sum of exactly the bf16 weights that P·V uses (lacc[0]: head g,
  // lacc[2]: head g+8).
  float m0 = -INFINITY, m1 = -INFINITY;
  float lacc[4] = {0.f, 0.f, 0.f, 0.f};
  constexpr uint32_t kOnes = 0x3F803F80u;  // bf16x2 (1, 1)

  for (int it = grp, li = 0; it < tiles; it += 2, ++li) {
    const int slot = it % kStages;
    const uint32_t stage_s = kbuf_s + static_cast<uint32_t>(slot * kStageBytes);
    mbar_wait(full + slot, (it / kStages) & 1);  // the tile has landed
    {  // Partial S over this warp's half of the dims, for two n-tiles.
      constexpr int kChains = 3;  // independent accumulators per n-tile
      float c[2][kChains][4] = {};
#pragma unroll
      for (int ks = 0; ks < kKHalf; ++ks) {
        uint32_t kb[4];
        ldsm_x4(kb, stage_s + k_off + ks * 16 * sizeof(bf16));
        mma_bf16(c[0][ks % kChains], qa[ks], kb[0], kb[1]);
        mma_bf16(c[1][ks % kChains], qa[ks], kb[2], kb[3]);
      }
#pragma unroll
      for (int i = 1; i < kChains; ++i)
#pragma unroll
        for (int n = 0; n < 2; ++n)
          c[n][0][0] += c[n][i][0], c[n][0][1] += c[n][i][1], c[n][0][2] += c[n][i][2], c[n][0][3] += c[n][i][3];
      if (li > 0) mbar_wait(scores_read + grp, (li - 1) & 1);  // the group has read its last scores
      float* s = sbuf + kh * kHeadTile * kSRow + np * 16 + 2 * t;  // scaled to base 2 here
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        *reinterpret_cast<float2*>(s + n * 8 + g * kSRow) =
            make_float2(c[n][0][0] * p.scale_log2, c[n][0][1] * p.scale_log2);
        *reinterpret_cast<float2*>(s + n * 8 + (g + 8) * kSRow) =
            make_float2(c[n][0][2] * p.scale_log2, c[n][0][3] * p.scale_log2);
      }
    }
    // The group's warps only: all partial scores of the tile are written.
    asm volatile("bar.sync %0, %1;\n" ::"r"(bar_id), "n"(32 * kGroupWarps) : "memory");

    uint32_t pa[2][4];  // P's A fragments for tokens 0..15 and 16..31
    {
      const int valid = min(kTile, end - (begin + it * kTile));  // >= 1
      float s0[8], s1[8];  // heads g and g+8, tokens 8j + 2t + e at [2j + e]
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float* sp = sbuf + j * 8 + 2 * t;
        const float2 x0 = *reinterpret_cast<const float2*>(sp + g * kSRow);
        const float2 y0 = *reinterpret_cast<const float2*>(sp + kHeadTile * kSRow + g * kSRow);
        const float2 x1 = *reinterpret_cast<const float2*>(sp + (g + 8) * kSRow);
        const float2 y1 = *reinterpret_cast<const float2*>(sp + kHeadTile * kSRow + (g + 8) * kSRow);
        s0[2 * j] = x0.x + y0.x, s0[2 * j + 1] = x0.y + y0.y;
        s1[2 * j] = x1.x + y1.x, s1[2 * j + 1] = x1.y + y1.y;
      }
      if (valid < kTile) {  // the chunk's last tile: positions past its end weigh nothing
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const bool ok = (i / 2) * 8 + 2 * t + (i % 2) < valid;
          s0[i] = ok ? s0[i] : -INFINITY;
          s1[i] = ok ? s1[i] : -INFINITY;
        }
      }
      __syncwarp();
      if (lane == 0) mbar_arrive(scores_read + grp);
      float mx0 = s0[0], mx1 = s1[0];
#pragma unroll
      for (int i = 1; i < 8; ++i) mx0 = fmaxf(mx0, s0[i]), mx1 = fmaxf(mx1, s1[i]);
#pragma unroll
      for (int offset = 1; offset < 4; offset <<= 1) {
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, offset));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, offset));
      }
      const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);  // finite: token 0 of the tile is valid
#pragma unroll
      for (int kk = 0; kk < 2; ++kk) {
        pa[kk][0] = pack_bf16(ex2(s0[4 * kk] - n0), ex2(s0[4 * kk + 1] - n0));
        pa[kk][1] = pack_bf16(ex2(s1[4 * kk] - n1), ex2(s1[4 * kk + 1] - n1));
        pa[kk][2] = pack_bf16(ex2(s0[4 * kk + 2] - n0), ex2(s0[4 * kk + 3] - n0));
        pa[kk][3] = pack_bf16(ex2(s1[4 * kk + 2] - n1), ex2(s1[4 * kk + 3] - n1));
      }
      const float al0 = ex2(m0 - n0), al1 = ex2(m1 - n1);  // 0 on the group's first tile (m = -inf)
      m0 = n0;
      m1 = n1;
      // Rescale only when some head's max moved (after the first tiles, rarely).
      if (__any_sync(0xffffffffu, al0 != 1.f || al1 != 1.f)) {
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) {
          acc[n][0] *= al0;
          acc[n][1] *= al0;
          acc[n][2] *= al1;
          acc[n][3] *= al1;
        }
        lacc[0] *= al0;
        lacc[1] *= al0;
        lacc[2] *= al1;
        lacc[3] *= al1;
      }
    }

    // O += P·V over this warp's 128 dims: per 16 tokens, 8 ldmatrix.x4.trans give 16 n-tiles' B.
#pragma unroll
    for (int kk = 0; kk < 2; ++kk) {
#pragma unroll
      for (int n2 = 0; n2 < kNTiles / 2; ++n2) {
        uint32_t vb[4];
        ldsm_x4_trans(vb, stage_s + v_off + (kk * 16 * kRow + n2 * 16) * sizeof(bf16));
        mma_bf16(acc[2 * n2], pa[kk], vb[0], vb[1]);
        mma_bf16(acc[2 * n2 + 1], pa[kk], vb[2], vb[3]);
      }
      mma_bf16(lacc, pa[kk], kOnes, kOnes);
    }
    __syncwarp();
    if (lane == 0) mbar_arrive(empty + slot);  // this warp is done with the slot
  }
  // Let the merge kernel's CTAs launch; it waits for this grid's completion before reading.
  allow_dependent_grids();

  // Combine the groups through the ring's first slot (every tile has been consumed): group 1
  // leaves its O, max and sum; group 0 rescales both to the common max and adds.
  asm volatile("bar.sync 4, %0;\n" ::"n"(32 * kWarps) : "memory");
  float* xo = reinterpret_cast<float*>(smem);  // [16][kXRow]
  float* xm = xo + kHeadTile * kXRow;          // [16] max, then [16] sum
  if (grp == 1) {
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) {
      const int d = gw * kDimsPerWarp + n * 8 + 2 * t;
      *reinterpret_cast<float2*>(xo + g * kXRow + d) = make_float2(acc[n][0], acc[n][1]);
      *reinterpret_cast<float2*>(xo + (g + 8) * kXRow + d) = make_float2(acc[n][2], acc[n][3]);
    }
    if (gw == 0 && t == 0) {
      xm[g] = m0, xm[g + 8] = m1;
      xm[kHeadTile + g] = lacc[0], xm[kHeadTile + g + 8] = lacc[2];
    }
  }
  asm volatile("bar.sync 4, %0;\n" ::"n"(32 * kWarps) : "memory");
  if (grp == 1) return;
  {
    const float mb0 = xm[g], mb1 = xm[g + 8];  // -inf when group 1 had no tile
    const float n0 = fmaxf(m0, mb0), n1 = fmaxf(m1, mb1);
    const float wa0 = ex2(m0 - n0), wa1 = ex2(m1 - n1), wb0 = ex2(mb0 - n0), wb1 = ex2(mb1 - n1);
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) {
      const int d = gw * kDimsPerWarp + n * 8 + 2 * t;
      const float2 x0 = *reinterpret_cast<const float2*>(xo + g * kXRow + d);
      const float2 x1 = *reinterpret_cast<const float2*>(xo + (g + 8) * kXRow + d);
      acc[n][0] = acc[n][0] * wa0 + x0.x * wb0;
      acc[n][1] = acc[n][1] * wa0 + x0.y * wb0;
      acc[n][2] = acc[n][2] * wa1 + x1.x * wb1;
      acc[n][3] = acc[n][3] * wa1 + x1.y * wb1;
    }
    lacc[0] = lacc[0] * wa0 + xm[kHeadTile + g] * wb0;
    lacc[2] = lacc[2] * wa1 + xm[kHeadTile + g + 8] * wb1;
    m0 = n0;
    m1 = n1;
  }

  const int64_t row0 = static_cast<int64_t>(b) * a.heads + h0;
  const int hg0 = h0 + g, hg1 = h0 + g + 8;
  const float l0 = lacc[0], l1 = lacc[2];
  if (p.splits == 1) {  // the whole context in one chunk: normalise and store the output here
    const float inv0 = 1.f / l0, inv1 = 1.f / l1;
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) {
      const int d = gw * kDimsPerWarp + n * 8 + 2 * t;
      if (hg0 < a.heads)
        *reinterpret_cast<__nv_bfloat162*>(a.out + (row0 + g) * kLatent + d) =
            __floats2bfloat162_rn(acc[n][0] * inv0, acc[n][1] * inv0);
      if (hg1 < a.heads)
        *reinterpret_cast<__nv_bfloat162*>(a.out + (row0 + g + 8) * kLatent + d) =
            __floats2bfloat162_rn(acc[n][2] * inv1, acc[n][3] * inv1);
    }
    return;
  }
#pragma unroll
  for (int n = 0; n < kNTiles; ++n) {
    const int d = gw * kDimsPerWarp + n * 8 + 2 * t;
    if (hg0 < a.heads)
      *reinterpret_cast<float2*>(p.o_part + ((row0 + g) * p.splits + split) * kLatent + d) =
          make_float2(acc[n][0], acc[n][1]);
    if (hg1 < a.heads)
      *reinterpret_cast<float2*>(p.o_part + ((row0 + g + 8) * p.splits + split) * kLatent + d) =
          make_float2(acc[n][2], acc[n][3]);
  }
  if (gw == 0 && t == 0) {
    if (hg0 < a.heads) p.ml[(row0 + g) * p.splits + split] = make_float2(m0, l0);
    if (hg1 < a.heads) p.ml[(row0 + g + 8) * p.splits + split] = make_float2(m1, l1);
  }
}

// Merge the chunks of one (sequence, head): out = Σ 2^(m_i − M) o_i / Σ 2^(m_i − M) l_i. A CTA
// takes 128 of the 512 dims (a float4 per lane); its warps (up to 16) take every warps-th chunk,
// so all of a row's loads are in flight at once, then add up through shared memory.
constexpr int kMergeMaxWarps = 16;
__global__ void __launch_bounds__(32 * kMergeMaxWarps) mla_decode_merge_kernel(Params p) {
  begin_dependent_kernel();  // the chunk kernel has finished
  const MlaDecodeArgs& a = p.a;
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int d = blockIdx.x * 128 + lane * 4, h = blockIdx.y, b = blockIdx.z;
  const int64_t row = static_cast<int64_t>(b) * a.heads + h;
  const int ctx = a.context_lens[b];
  const int active = min(p.splits, (ctx + p.chunk - 1) / p.chunk);
  const float2* ml = p.ml + row * p.splits;
  float m = -INFINITY;
#pragma unroll 8
  for (int i = 0; i < active; ++i) m = fmaxf(m, ml[i].x);
  float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
  float l = 0.f;
#pragma unroll 8
  for (int i = warp; i < active; i += warps) {
    const float2 s = ml[i];
    const float w = exp2f(s.x - m);
    const float4 oi = *reinterpret_cast<const float4*>(p.o_part + (row * p.splits + i) * kLatent + d);
    o.x += w * oi.x;
    o.y += w * oi.y;
    o.z += w * oi.z;
    o.w += w * oi.w;
    l += w * s.y;
  }
  __shared__ float4 part_o[kMergeMaxWarps][32];
  __shared__ float part_l[kMergeMaxWarps];
  part_o[warp][lane] = o;
  if (lane == 0) part_l[warp] = l;
  __syncthreads();
  if (warp != 0) return;
  float lsum = part_l[0];
  for (int w = 1; w < warps; ++w) {
    const float4 x = part_o[w][lane];
    o.x += x.x, o.y += x.y, o.z += x.z, o.w += x.w;
    lsum += part_l[w];
  }
  const float inv = lsum > 0.f ? 1.f / lsum : 0.f;
  const __nv_bfloat162 lo = __floats2bfloat162_rn(o.x * inv, o.y * inv), hi = __floats2bfloat162_rn(o.z * inv, o.w * inv);
  uint2 packed;
  packed.x = *reinterpret_cast<const uint32_t*>(&lo);
  packed.y = *reinterpret_cast<const uint32_t*>(&hi);
  *reinterpret_cast<uint2*>(a.out + row * kLatent + d) = packed;
}

template <int kStages>
void launch_chunk(const Params& p, dim3 grid, cudaStream_t stream) {
  constexpr std::size_t bytes = smem_bytes<kStages>();
  static std::atomic<uint64_t> set_on{0};
  allow_dynamic_shared_memory(reinterpret_cast<const void*>(mla_decode_chunk_kernel<kStages>), bytes, set_on);
  launch_dependent(mla_decode_chunk_kernel<kStages>, grid, kThreads, bytes, stream, p);
}

}  // namespace

MlaDecodePlan plan_mla_decode(const MlaDecodeArgs& a, int sm_count) {
  // One CTA per SM. Pick the split that finishes soonest, in units of one tile's time on one SM:
  // whole waves × (tiles per chunk + ~2 to fill the copy ring), plus the merge's traffic and
  // launch when there is more than one chunk. Splits that give the same chunk are the same plan.
  const int64_t head_tiles = (a.heads + kHeadTile - 1) / kHeadTile;
  const int64_t rows = static_cast<int64_t>(std::max(a.batch, 1)) * head_tiles;
  const int max_tiles = std::max(1, (a.max_context + kTile - 1) / kTile);
  const int64_t slots = std::max(sm_count, 1);
  const double tile_bytes = static_cast<double>(kTile) * kEntry * sizeof(bf16);
  double best_cost = 0;
  int best_tpc = max_tiles;
  for (int s = 1; s <= std::min(max_tiles, 4096); ++s) {
    const int tpc = (max_tiles + s - 1) / s;
    const int splits = (max_tiles + tpc - 1) / tpc;
    if (splits != s) continue;
    const int64_t waves = (rows * splits + slots - 1) / slots;
    double cost = static_cast<double>(waves) * (tpc + 2);
    if (splits > 1) {
      const double merge_bytes = static_cast<double>(std::max(a.batch, 1)) * a.heads * splits * kLatent * 4.0 * 2.0;
      cost += merge_bytes / (static_cast<double>(slots) * tile_bytes) + 2;
    }
    if (s == 1 || cost < best_cost) best_cost = cost, best_tpc = tpc;
  }
  return {(max_tiles + best_tpc - 1) / best_tpc, best_tpc * kTile};
}

std::size_t mla_decode_workspace_bytes(const MlaDecodeArgs& a, const MlaDecodePlan& plan) {
  const std::size_t states = static_cast<std::size_t>(a.batch) * a.heads * plan.splits;
  return states * kLatent * sizeof(float) + states * sizeof(float2);
}

void mla_decode(const MlaDecodeArgs& a, const MlaDecodePlan& plan, void* workspace, std::size_t workspace_bytes,
                cudaStream_t stream) {
  if (a.batch <= 0 || a.heads <= 0) return;
  if (a.block_size <= 0 || a.max_context < 0) throw Error("mla_decode: block_size must be positive");
  if (plan.splits < 1 || plan.chunk % kTile != 0 || plan.splits > 65535 ||
      static_cast<int64_t>(plan.splits) * plan.chunk < a.max_context)
    throw Error("mla_decode: the plan does not cover max_context (use plan_mla_decode)");
  if (workspace_bytes < mla_decode_workspace_bytes(a, plan)) throw Error("mla_decode: workspace too small");
  if (reinterpret_cast<uintptr_t>(a.q) % 16 != 0 || reinterpret_cast<uintptr_t>(a.cache) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(a.out) % 16 != 0 || reinterpret_cast<uintptr_t>(workspace) % 16 != 0)
    throw Error("mla_decode: q, cache, out and workspace must be 16-byte aligned");

  Params p{a, plan.splits, plan.chunk, a.scale * 1.4426950408889634f, static_cast<float*>(workspace), nullptr,
           kCopyWarps};
  p.ml = reinterpret_cast<float2*>(p.o_part + static_cast<std::size_t>(a.batch) * a.heads * plan.splits * kLatent);
  // Head tiles fastest: the CTAs that read the same chunk start together.
  const dim3 grid(static_cast<unsigned>((a.heads + kHeadTile - 1) / kHeadTile), static_cast<unsigned>(plan.splits),
                  static_cast<unsigned>(a.batch));
  launch_chunk<kRingStages>(p, grid, stream);
  TIDE_CUDA_CHECK_LAUNCH();
  if (plan.splits > 1) {
    // The merge's CTAs are placed while the chunk kernel's last CTAs finish (dependent_launch.cuh).
    launch_dependent(mla_decode_merge_kernel, dim3(4, static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch)),
                     dim3(32 * std::min(plan.splits, kMergeMaxWarps)), 0, stream, p);
  }
}

}  // namespace tide::cuda
