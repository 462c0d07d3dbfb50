#pragma once
// Kernels that take more than the default 48 KB of dynamic shared memory must say so per device:
// the attribute belongs to each device's context.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"

namespace tide::cuda {

// Lets `kernel` launch with `bytes` of dynamic shared memory on the current device. `set_on` is the
// kernel's own record of the devices done (one bit each); devices past 64 set it on every call.
inline void allow_dynamic_shared_memory(const void* kernel, std::size_t bytes, std::atomic<uint64_t>& set_on) {
  int device = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  const uint64_t bit = device < 64 ? uint64_t{1} << device : 0;
  if (bit && (set_on.load(std::memory_order_acquire) & bit)) return;
  TIDE_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  set_on.fetch_or(bit, std::memory_order_release);
}

}  // namespace tide::cuda
