#pragma once
// Programmatic dependent launch (Hopper): every kernel of the op set is launched so that its CTAs
// may be placed on the SMs while the kernel before it in the stream is still running, instead of
// after it has drained. A decode step is some 500 short kernels, each a few microseconds; without
// this each one pays its launch and ramp-up after the previous one's tail.
//
// The contract every kernel launched through launch_dependent keeps:
//   1. before touching memory that an earlier kernel of the stream writes or reads (activations,
//      routing ids, the cache; anything but weights), call wait_for_prior_grids(): it returns once
//      every earlier grid has completed and its writes are visible;
//   2. then call allow_dependent_grids(), so that the next kernel's CTAs may be placed early.
// Reading weights before the wait is allowed (they are written only before any step runs), and is
// the point of gemv_nt's L2 prefetch. A kernel that follows a library kernel (cuBLASLt) or a copy
// simply waits for it to finish, as without the attribute; captured graphs keep these edges.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace tide::cuda {

__device__ __forceinline__ void wait_for_prior_grids() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

__device__ __forceinline__ void allow_dependent_grids() {
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
}

// The prologue of nearly every kernel: wait for the stream's earlier work, let the next kernel in.
__device__ __forceinline__ void begin_dependent_kernel() {
  wait_for_prior_grids();
  allow_dependent_grids();
}

// TIDE_DEPENDENT_LAUNCH=0 in the environment launches every kernel after the previous one has
// finished, as a plain launch does: for measuring what the overlap gives, or ruling it out.
inline bool dependent_launch_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("TIDE_DEPENDENT_LAUNCH");
    return value == nullptr || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes,
                      cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = dependent_launch_enabled() ? 1 : 0;
  TIDE_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace tide::cuda
