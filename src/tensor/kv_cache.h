#pragma once
// What the engine knows of a KV cache: a pool of fixed-size blocks per layer that sequences own
// through block tables. Where the entries live (host floats, device bf16) and what they hold is
// the model's business: a model makes the cache its forward pass reads (Model::make_kv_cache).
#include <cstddef>

namespace tide {

class KvCache {
 public:
  KvCache(int num_layers, int num_blocks, int block_size)
      : num_layers_(num_layers), num_blocks_(num_blocks), block_size_(block_size) {}
  virtual ~KvCache() = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int num_layers() const { return num_layers_; }
  int num_blocks() const { return num_blocks_; }
  int block_size() const { return block_size_; }
  virtual std::size_t bytes() const = 0;

 private:
  int num_layers_, num_blocks_, block_size_;
};

}  // namespace tide
