#pragma once
// The CPU path's paged KV cache (float32 in host memory): per layer, fixed-size blocks of `block_size` token entries. A sequence
// owns a block table (block ids in position order), so sequences grow without copying and
// blocks can be shared between sequences with a common prefix. What an entry holds is the
// model's business (MLA: latent + rope key; GQA: K and V of every kv head).
#include <cstdint>
#include <span>
#include <algorithm>
#include <vector>

#include "tensor/kv_cache.h"

namespace tide {

class PagedKvCache : public KvCache {
 public:
  PagedKvCache(int num_layers, int num_blocks, int block_size, int entry_dim)
      : KvCache(num_layers, num_blocks, block_size), num_blocks_(num_blocks), block_size_(block_size),
        entry_dim_(entry_dim), data_(static_cast<std::size_t>(num_layers) * num_blocks * block_size * entry_dim, 0.f) {}

  int entry_dim() const { return entry_dim_; }
  std::size_t bytes() const override { return data_.size() * sizeof(float); }

  // The entry of `position` in a sequence with `block_table`.
  float* slot(int layer, std::span<const int32_t> block_table, int64_t position) {
    return data_.data() + offset(layer, block_table[position / block_size_], position % block_size_);
  }
  const float* slot(int layer, std::span<const int32_t> block_table, int64_t position) const {
    return data_.data() + offset(layer, block_table[position / block_size_], position % block_size_);
  }

  // Copies the entries of positions [0, len) into `out` ([len, entry_dim]), contiguous for the
  // attention kernel.
  void gather(int layer, std::span<const int32_t> block_table, int64_t len, float* out) const {
    for (int64_t p = 0; p < len; p += block_size_) {
      const int64_t n = std::min<int64_t>(block_size_, len - p);
      const float* src = data_.data() + offset(layer, block_table[p / block_size_], 0);
      std::copy(src, src + n * entry_dim_, out + p * entry_dim_);
    }
  }

 private:
  std::size_t offset(int layer, int32_t block, int64_t in_block) const {
    return ((static_cast<std::size_t>(layer) * num_blocks_ + block) * block_size_ + in_block) * entry_dim_;
  }

  int num_blocks_, block_size_, entry_dim_;
  std::vector<float> data_;
};

}  // namespace tide
