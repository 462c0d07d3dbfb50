#pragma once
// The CUDA path's paged KV cache: bf16 entries in device memory, laid out as PagedKvCache is
// ([layer][block][slot][entry]), so the attention kernels index it the same way.
#include <cstddef>
#include <cstdint>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"
#include "tensor/kv_cache.h"

namespace tide::cuda {

class DeviceKvCache : public KvCache {
 public:
  DeviceKvCache(int num_layers, int num_blocks, int block_size, int entry_dim)
      : KvCache(num_layers, num_blocks, block_size),
        entry_dim_(entry_dim),
        layer_elements_(static_cast<std::size_t>(num_blocks) * block_size * entry_dim),
        data_(layer_elements_ * num_layers) {}

  int entry_dim() const { return entry_dim_; }
  std::size_t bytes() const override { return data_.bytes(); }
  bf16* layer(int l) { return data_.data() + layer_elements_ * l; }

 private:
  int entry_dim_;
  std::size_t layer_elements_;
  DeviceBuffer<bf16> data_;
};

}  // namespace tide::cuda
