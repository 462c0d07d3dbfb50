#include "model/decoder.h"

#include <fmt/format.h>

#include "backend/cpu/ops.h"
#include "model/batch_layout.h"
#include "common/error.h"

namespace tide {

DecoderModel::DecoderModel(ModelConfig config, Checkpoint checkpoint)
    : config_(std::move(config)), checkpoint_(std::move(checkpoint)) {}

void DecoderModel::load_shared(WeightLoader& loader) {
  const int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
  embed_ = loader.exact("model.embed_tokens.weight", vocab, hidden);
  lm_head_ = config_.tie_word_embeddings ? embed_ : loader.matrix("lm_head.weight", vocab, hidden);
  final_norm_ = loader.vector("model.norm.weight", hidden);
  for (int l = 0; l < config_.num_layers; ++l) {
    const std::string prefix = fmt::format("model.layers.{}.", l);
    input_norm_.push_back(loader.vector(prefix + "input_layernorm.weight", hidden));
    post_attention_norm_.push_back(loader.vector(prefix + "post_attention_layernorm.weight", hidden));
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
  PagedKvCache& cache = *paged;
  check_batch(batch, config_, cache);
  const int64_t T = static_cast<int64_t>(batch.tokens.size()), D = config_.hidden_size;
  const BatchLayout layout(batch);

  std::vector<float> x(T * D), h(T * D), delta(T * D);
  for (int64_t t = 0; t < T; ++t) embed_.row_to_f32(batch.tokens[t], x.data() + t * D);

  for (int l = 0; l < config_.num_layers; ++l) {
    cpu::rms_norm(x.data(), T, D, input_norm_[l].data(), config_.rms_norm_eps, h.data());
    attention(l, h.data(), batch, layout, cache, delta.data());
    for (int64_t i = 0; i < T * D; ++i) x[i] += delta[i];
    cpu::rms_norm(x.data(), T, D, post_attention_norm_[l].data(), config_.rms_norm_eps, h.data());
    feed_forward(l, h.data(), T, delta.data());
    for (int64_t i = 0; i < T * D; ++i) x[i] += delta[i];
  }

  // Only the rows whose logits are wanted go through the final norm and the LM head.
  const int64_t rows = batch.num_logit_rows();
  std::vector<float> selected(rows * D);
  int64_t r = 0;
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const auto& seq = batch.sequences[s];
    const int64_t first = seq.all_logits ? 0 : seq.num_tokens - 1;
    for (int64_t i = first; i < seq.num_tokens; ++i, ++r)
      std::copy_n(x.data() + (layout.token_offset[s] + i) * D, D, selected.data() + r * D);
  }
  cpu::rms_norm(selected.data(), rows, D, final_norm_.data(), config_.rms_norm_eps, selected.data());
  std::vector<float> logits(rows * config_.vocab_size);
  cpu::matmul(selected.data(), rows, lm_head_, logits.data());
  return logits;
}

}  // namespace tide
