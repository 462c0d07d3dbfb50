#pragma once
// What the CPU backend's families (DeepSeek, Llama/Qwen) share around their forward pass: the
// weights outside the layers' blocks, the paged float32 cache, and the batch's checks. The pass
// itself is the family's, over CpuDecoderOps (decoder_forward.h: embed → per layer (norm,
// attention, residual, norm, feed-forward, residual) → norm → logits).
#include <memory>
#include <vector>

#include "model/checkpoint/checkpoint.h"
#include "model/cpu_decoder_ops.h"
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
  const DecoderWeights& decoder_weights() const { return decoder_weights_; }

  // The family's forward pass over a checked batch: writes the new tokens' cache entries and
  // returns logits [batch.num_logit_rows(), vocab].
  virtual std::vector<float> run_forward(const Batch& batch, PagedKvCache& cache) const = 0;

  ModelConfig config_;
  Checkpoint checkpoint_;  // keeps the mapped weights alive

 private:
  DecoderWeights decoder_weights_;
  std::size_t weight_bytes_ = 0;
};

}  // namespace tide
