#include "model/cpu_decoder_ops.h"

#include <algorithm>

#include "backend/cpu/ops.h"

namespace tide {

CpuDecoderOps::CpuDecoderOps(const DecoderWeights& weights, const ModelConfig& config, const Batch& batch)
    : config_(config),
      batch_(batch),
      layout_(batch),
      tokens_(static_cast<int64_t>(batch.tokens.size())),
      weights_(weights),
      residual_(tokens_ * config.hidden_size),
      normed_(residual_.size()),
      pending_(residual_.size()) {}

void CpuDecoderOps::embed() {
  const int64_t D = config_.hidden_size;
  for (int64_t t = 0; t < tokens_; ++t) weights_.embed.row_to_f32(batch_.tokens[t], residual_.data() + t * D);
  has_pending_ = false;
}

void CpuDecoderOps::add_pending() {
  if (!has_pending_) return;
  for (std::size_t i = 0; i < residual_.size(); ++i) residual_[i] += pending_[i];
  has_pending_ = false;
}

CpuDecoderOps::Normed CpuDecoderOps::norm(int layer, LayerNorm which) {
  add_pending();
  const auto& weight = which == LayerNorm::Input ? weights_.input_norm[layer] : weights_.post_attention_norm[layer];
  cpu::rms_norm(residual_.data(), tokens_, config_.hidden_size, weight.data(), config_.rms_norm_eps, normed_.data());
  return normed_.data();
}

float* CpuDecoderOps::block_output() {
  has_pending_ = true;
  return pending_.data();
}

std::vector<float> CpuDecoderOps::logits() {
  add_pending();
  // Only the rows whose logits are wanted go through the final norm and the LM head.
  const int64_t D = config_.hidden_size, rows = batch_.num_logit_rows();
  std::vector<float> selected(rows * D);
  int64_t r = 0;
  for (std::size_t s = 0; s < batch_.sequences.size(); ++s) {
    const auto& seq = batch_.sequences[s];
    const int64_t first = seq.all_logits ? 0 : seq.num_tokens - 1;
    for (int64_t i = first; i < seq.num_tokens; ++i, ++r)
      std::copy_n(residual_.data() + (layout_.token_offset[s] + i) * D, D, selected.data() + r * D);
  }
  cpu::rms_norm(selected.data(), rows, D, weights_.final_norm.data(), config_.rms_norm_eps, selected.data());
  std::vector<float> logits(rows * config_.vocab_size);
  cpu::matmul(selected.data(), rows, weights_.lm_head, logits.data());
  return logits;
}

}  // namespace tide
