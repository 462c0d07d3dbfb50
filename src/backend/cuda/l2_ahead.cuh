#pragma once
// ask_l2_ahead: a launch's blocks ask L2 for the ranges of an L2Ahead (ops.h), each block its
// share, as bulk prefetches that no thread waits for: the copy engine of each SM issues them while
// the block goes on with its own work.
#include <cstdint>

#include "backend/cuda/ops.h"

namespace tide::cuda {

// A bulk prefetch's most bytes: a block's share goes out in a few of these.
constexpr int64_t kL2AheadPiece = 64 * 1024;

__device__ __forceinline__ void prefetch_l2_bulk(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
}

__device__ __forceinline__ void prefetch_l2_bulk_kept(const void* p, uint32_t bytes) {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(policy));
  asm volatile("cp.async.bulk.prefetch.L2.global.L2::cache_hint [%0], %1, %2;\n" ::"l"(p), "r"(bytes), "l"(policy)
               : "memory");
}

// Block `block` of `blocks` asks for its share of each range: [block·share, (block+1)·share) of
// the range's 16-byte pieces, by the block's first thread.
__device__ __forceinline__ void ask_l2_ahead(const L2Ahead& a, int64_t block, int64_t blocks) {
  if (threadIdx.x != 0) return;
  for (int r = 0; r < a.count; ++r) {
    const int64_t pieces = a.ranges[r].bytes / 16, share = (pieces + blocks - 1) / blocks;
    const int64_t begin = block * share, end = begin + share < pieces ? begin + share : pieces;
    const char* base = static_cast<const char*>(a.ranges[r].data);
    for (int64_t piece = begin; piece < end; piece += kL2AheadPiece / 16) {
      const int64_t count = end - piece < kL2AheadPiece / 16 ? end - piece : kL2AheadPiece / 16;
      if (a.keep) prefetch_l2_bulk_kept(base + piece * 16, static_cast<uint32_t>(count * 16));
      else prefetch_l2_bulk(base + piece * 16, static_cast<uint32_t>(count * 16));
    }
  }
}

}  // namespace tide::cuda
