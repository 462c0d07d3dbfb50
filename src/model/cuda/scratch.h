#pragma once
// Device buffers a forward pass reuses from step to step: each grows (by half again) when a
// step needs more than it holds and is never shrunk, so steady-state steps allocate nothing.
#include <cstddef>

#include "backend/cuda/device_buffer.h"

namespace tide::cuda {

template <typename T>
T* grow(DeviceBuffer<T>& buffer, std::size_t count) {
  if (buffer.size() < count) buffer = DeviceBuffer<T>(count + count / 2);
  return buffer.data();
}

}  // namespace tide::cuda
