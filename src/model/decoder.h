#pragma once
// The decoder skeleton both families share, read top to bottom like the papers:
// embed → per layer (norm, attention, residual, norm, feed-forward, residual) → norm → logits.
// A family supplies its attention and feed-forward.
#include <memory>
#include <vector>

#include "model/batch_layout.h"
#include "model/checkpoint/checkpoint.h"
#include "model/model.h"
#include "model/weights.h"

namespace tide {

class DecoderModel : public Model {
 public:
  const ModelConfig& config() const override { return config_; }
  std::vector<float> forward(const Batch& batch, KvCache& cache) const override;
  std::unique_ptr<KvCache> make_kv_cache(int num_blocks, int block_size) const override;
  std::size_t kv_cache_block_bytes(int block_size) const override;
  std::string device_description() const override { return "cpu"; }
  std::size_t weight_bytes() const override { return weight_bytes_; }

 protected:
  DecoderModel(ModelConfig config, Checkpoint checkpoint);
  // Claims embeddings, norms and the LM head; call from the family's constructor.
  void load_shared(WeightLoader& loader);
  void set_weight_bytes(std::size_t bytes) { weight_bytes_ = bytes; }

  // out[T, hidden] = attention of the normed hidden states h[T, hidden]; writes the new tokens'
  // cache entries.
  virtual void attention(int layer, const float* h, const Batch& batch, const BatchLayout& layout,
                         PagedKvCache& cache, float* out) const = 0;
  // out[T, hidden] = feed-forward of h[T, hidden].
  virtual void feed_forward(int layer, const float* h, int64_t tokens, float* out) const = 0;

  ModelConfig config_;
  Checkpoint checkpoint_;  // keeps the mapped weights alive

 private:
  WeightMatrix embed_;
  WeightMatrix lm_head_;
  std::vector<float> final_norm_;
  std::vector<std::vector<float>> input_norm_, post_attention_norm_;
  std::size_t weight_bytes_ = 0;
};

}  // namespace tide
