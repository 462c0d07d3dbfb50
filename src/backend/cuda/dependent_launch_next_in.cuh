#pragma once
#include "backend/cuda/dependent_launch.cuh"

namespace tide::cuda {

// The next kernel's CTAs let in before this one waits: they may be placed (and load their weights)
// while the kernel before this one still runs. Safe for any next kernel that waits before reading
// what this one writes (its wait returns once this grid completes, which follows this grid's own
// wait), but not for one that reads, unwaited, what the kernel before this one wrote.
__device__ __forceinline__ void begin_dependent_kernel_letting_next_in() {
  allow_dependent_grids();
  wait_for_prior_grids();
}

}  // namespace tide::cuda
