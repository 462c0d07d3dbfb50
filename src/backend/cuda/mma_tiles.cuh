#pragma once
// The building blocks of the mma.sync kernels (moe_grouped_gemm, the MLA decode kernels), some
// of them shared with the wgmma kernels (wgmma.cuh): cp.async copies global → shared (Ampere and
// later), ldmatrix loads of four 8×16-byte matrices, bf16 packing, the operand fragments of
// mma.sync m16n8k16, and the store of a warp's fp32 accumulators as bf16.
#include <cuda_bf16.h>

#include <cstdint>

namespace tide::cuda {

// 16 bytes global → shared, bypassing L1; `valid` false: the 16 bytes are zero-filled and nothing
// is read (gmem must still be a valid address).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(gmem), "r"(bytes));
}
// 4 bytes global → shared (one fp32 scale), zero-filled when not `valid`.
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(address), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// Lanes 8i..8i+7 give the row addresses of matrix i; r[i] receives this lane's 4 bytes of it.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// As ldmatrix_x4, each matrix transposed: from row-major [k][n] rows, the "col" B fragments of
// mma.sync (lane's 4 bytes: rows 2·(lane%4) and +1, column lane/4).
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// D += A·B for one m16n8k16 tile: A row-major 16×16, B "col" 16×8, fp32 accumulators.
__device__ __forceinline__ void mma_bf16(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float ex2(float x) {  // 2^x; -inf gives 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// A warp's accumulators of up to four m16 row tiles × two n8 feature tiles (acc[mt][nt]) as bf16
// into y's rows first..first+rows-1 at features col0..col0+15 (col0 even, n even: a pair never
// straddles n). The m16n8 accumulator layout: elements 0, 1 at row lane/4, columns
// 2·(lane%4) + {0, 1}; elements 2, 3 eight rows below.
__device__ __forceinline__ void store_warp_tiles(const float (&acc)[4][2][4], int rows, int64_t first, int64_t col0,
                                                 int64_t n, __nv_bfloat16* y) {
  const int lane = threadIdx.x % 32, row_in_tile = lane / 4, col_in_tile = (lane % 4) * 2;
#pragma unroll
  for (int mt = 0; mt < 4; ++mt) {
    if (mt * 16 >= rows) continue;
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int64_t col = col0 + nt * 8 + col_in_tile;
      if (col >= n) continue;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = mt * 16 + row_in_tile + half * 8;
        if (r >= rows) continue;
        *reinterpret_cast<__nv_bfloat162*>(y + (first + r) * n + col) =
            __floats2bfloat162_rn(acc[mt][nt][half * 2], acc[mt][nt][half * 2 + 1]);
      }
    }
  }
}

}  // namespace tide::cuda
