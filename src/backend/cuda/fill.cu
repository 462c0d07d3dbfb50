// Filling device buffers without a host copy: the dummy weights of `--load-format dummy` and
// benchmark caches. Values come from a counter-based hash (splitmix64) of (seed, index), so a
// buffer's contents depend on its seed alone, not on the launch shape or the GPU.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Element i's draw on [-1, 1) under `key` (splitmix64 of the seed).
__device__ __forceinline__ float signed_unit(uint64_t key, std::size_t i) {
  const uint64_t bits = splitmix64(key ^ i);
  return static_cast<float>(bits >> 40) * (2.f / 16777216.f) - 1.f;
}

__global__ void fill_uniform_kernel(bf16* x, std::size_t n, uint64_t seed, float bound) {
  begin_dependent_kernel();
  const uint64_t key = splitmix64(seed);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[i] = __float2bfloat16(signed_unit(key, i) * bound);
}

__global__ void fill_uniform_e4m3_kernel(uint8_t* q, std::size_t n, uint64_t seed) {
  begin_dependent_kernel();
  const uint64_t key = splitmix64(seed);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    q[i] = __nv_fp8_e4m3(signed_unit(key, i) * 448.f).__x;
}

__global__ void fill_constant_kernel(bf16* x, std::size_t n, float value) {
  begin_dependent_kernel();
  const bf16 v = __float2bfloat16(value);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    x[i] = v;
}

unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? (blocks ? blocks : 1) : 65536);
}

}  // namespace

void fill_uniform(bf16* x, std::size_t n, uint64_t seed, float bound, cudaStream_t stream) {
  if (n == 0) return;
  launch_dependent(fill_uniform_kernel, grid_for(n), 256, 0, stream, x, n, seed, bound);
  TIDE_CUDA_CHECK_LAUNCH();
}

void fill_uniform_e4m3(uint8_t* q, std::size_t n, uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  launch_dependent(fill_uniform_e4m3_kernel, grid_for(n), 256, 0, stream, q, n, seed);
  TIDE_CUDA_CHECK_LAUNCH();
}

void fill_constant(bf16* x, std::size_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  launch_dependent(fill_constant_kernel, grid_for(n), 256, 0, stream, x, n, value);
  TIDE_CUDA_CHECK_LAUNCH();
}

}  // namespace tide::cuda
