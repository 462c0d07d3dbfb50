#include "model/decoder.h"

#include <fmt/format.h>

#include "common/error.h"
#include "model/batch_layout.h"

namespace tide {

DecoderModel::DecoderModel(ModelConfig config, Checkpoint checkpoint)
    : config_(std::move(config)), checkpoint_(std::move(checkpoint)) {}

void DecoderModel::load_shared(WeightLoader& loader) {
  const int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
  DecoderWeights& w = decoder_weights_;
  w.embed = loader.exact("model.embed_tokens.weight", vocab, hidden);
  w.lm_head = config_.tie_word_embeddings ? w.embed : loader.matrix("lm_head.weight", vocab, hidden);
  w.final_norm = loader.vector("model.norm.weight", hidden);
  for (int l = 0; l < config_.num_layers; ++l) {
    const std::string prefix = fmt::format("model.layers.{}.", l);
    w.input_norm.push_back(loader.vector(prefix + "input_layernorm.weight", hidden));
    w.post_attention_norm.push_back(loader.vector(prefix + "post_attention_layernorm.weight", hidden));
  }
}

std::unique_ptr<KvCache> DecoderModel::make_kv_cache(int num_blocks, int block_size) const {
  return std::make_unique<PagedKvCache>(config_.num_layers, num_blocks, block_size, config_.kv_entry_dim());
}

std::size_t DecoderModel::kv_cache_block_bytes(int block_size) const {
  return static_cast<std::size_t>(block_size) * config_.kv_entry_dim() * sizeof(float) * config_.num_layers;
}

std::vector<float> DecoderModel::forward(const Batch& batch, KvCache& any_cache) const {
  auto* paged = dynamic_cast<PagedKvCache*>(&any_cache);
  if (!paged) fail("the CPU model was given a KV cache it did not make (use Model::make_kv_cache)");
  check_batch(batch, config_, *paged);
  return run_forward(batch, *paged);
}

}  // namespace tide
