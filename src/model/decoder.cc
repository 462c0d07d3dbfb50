#include "model/decoder.h"

#include <fmt/format.h>

#include "backend/cpu/ops.h"
#include "common/error.h"

namespace tide {

BatchLayout::BatchLayout(const Batch& batch) {
  int64_t offset = 0;
  for (const auto& s : batch.sequences) {
    token_offset.push_back(offset);
    for (int64_t i = 0; i < s.num_tokens; ++i) positions.push_back(s.start_position + i);
    offset += s.num_tokens;
  }
}

DecoderModel::DecoderModel(ModelConfig config, Checkpoint checkpoint)
    : config_(std::move(config)), checkpoint_(std::move(checkpoint)) {}

void DecoderModel::load_shared(WeightLoader& loader) {
  const int64_t vocab = config_.vocab_size, hidden = config_.hidden_size;
  embed_ = loader.matrix("model.embed_tokens.weight", vocab, hidden);
  lm_head_ = config_.tie_word_embeddings ? embed_ : loader.matrix("lm_head.weight", vocab, hidden);
  final_norm_ = loader.vector("model.norm.weight", hidden);
  for (int l = 0; l < config_.num_layers; ++l) {
    const std::string prefix = fmt::format("model.layers.{}.", l);
    input_norm_.push_back(loader.vector(prefix + "input_layernorm.weight", hidden));
    post_attention_norm_.push_back(loader.vector(prefix + "post_attention_layernorm.weight", hidden));
  }
}

void DecoderModel::validate(const Batch& batch, const PagedKvCache& cache) const {
  int64_t total = 0;
  for (const auto& s : batch.sequences) {
    if (s.num_tokens < 1) fail("batch: a sequence has no new tokens");
    const int64_t end = s.start_position + s.num_tokens;
    if (static_cast<int64_t>(s.block_table.size()) * cache.block_size() < end)
      fail("batch: block table of {} blocks cannot hold {} tokens", s.block_table.size(), end);
    for (int32_t b : s.block_table)
      if (b < 0 || b >= cache.num_blocks()) fail("batch: block id {} outside the cache", b);
    total += s.num_tokens;
  }
  if (total != static_cast<int64_t>(batch.tokens.size())) fail("batch: token count does not match its sequences");
  for (int32_t t : batch.tokens)
    if (t < 0 || t >= config_.vocab_size) fail("token id {} is outside the vocabulary (0..{})", t, config_.vocab_size - 1);
}

std::vector<float> DecoderModel::forward(const Batch& batch, PagedKvCache& cache) const {
  validate(batch, cache);
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
