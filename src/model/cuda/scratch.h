#pragma once
// Device buffers a forward pass reuses from step to step: each grows (by half again) when a
// step needs more than it holds and is never shrunk, so steady-state steps allocate nothing.
// Every growth moves a buffer, so it bumps epoch(): a CUDA graph captured before holds stale
// addresses and must be captured again.
#include <cstddef>
#include <cstdint>

#include "backend/cuda/device_buffer.h"

namespace tide::cuda {

class Scratch {
 public:
  template <typename T>
  T* get(DeviceBuffer<T>& buffer, std::size_t count) {
    if (buffer.size() < count) {
      buffer = DeviceBuffer<T>(count + count / 2);
      ++epoch_;
    }
    return buffer.data();
  }
  uint64_t epoch() const { return epoch_; }

 private:
  uint64_t epoch_ = 0;
};

}  // namespace tide::cuda
