#include "model/cuda/cuda_deepseek_model.h"

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "common/error.h"
#include "model/cuda/cuda_deepseek_ops.h"
#include "model/cuda/router_params.h"
#include "model/deepseek/forward_pass.h"
#include "model/rope.h"
#include "model/weight_footprint.h"

namespace tide::cuda {

DeepSeekCudaModel::DeepSeekCudaModel(ModelConfig config, DeepSeekWeights weights)
    : CudaModelBase(std::move(config)),
      weights_(std::move(weights)),
      softmax_scale_(mla_softmax_scale(config_)),
      router_(router_params(config_)) {
  upload_rope_tables(RotaryEmbedding(config_, config_.qk_rope_head_dim), rope_cos_, rope_sin_);
  route_done_ = DeviceBuffer<unsigned>(1);
  TIDE_CUDA_CHECK(cudaMemsetAsync(route_done_.data(), 0, sizeof(unsigned), stream_));  // before any step's launch
  folded_decode_ = folded_decode_supported();
}

void DeepSeekCudaModel::plan_step(const Batch& batch, const BatchLayout& layout, Step& step) const {
  const bool expandable = expanded_prefill_supported();
  step.attention_runs = plan_attention_runs(batch, layout, [expandable](const SequenceStep& seq) {
    return expandable && seq.num_tokens >= kExpandedPrefillRows;
  });
  for (const AttentionRun& run : step.attention_runs)
    if (run.whole_chunk) step.max_expanded_context = std::max(step.max_expanded_context, run.context);
}

double DeepSeekCudaModel::decode_weight_bytes(int batch) const {
  auto bytes = [](const auto& matrix) { return static_cast<double>(matrix.bytes()); };
  auto mlp_bytes = [&](const GatedMlpWeights& w) { return bytes(w.gate_up) + bytes(w.down); };
  const double routed = touched_experts(config_, batch);
  double total = bytes(weights_.head().data) + static_cast<double>(batch) * config_.hidden_size * sizeof(bf16);
  // The absorbed products read kv_b_proj's W_UK and W_UV halves; with fp8, W_UK as its transposed copy.
  const double value_share = static_cast<double>(config_.v_head_dim) / (config_.qk_nope_head_dim + config_.v_head_dim);
  for (const DeepSeekLayerWeights& l : weights_.layers) {
    const MlaWeights& a = l.attention;
    const double kv_b = a.kv_b_proj.is_fp8() ? bytes(a.keys_transposed) + value_share * bytes(a.kv_b_proj)
                                             : bytes(a.kv_b_proj);
    total += bytes(a.q_and_kv_a) + bytes(a.q_b_proj) + kv_b + bytes(a.o_proj);
    if (l.dense) total += mlp_bytes(*l.dense);
    if (!l.moe) continue;
    const MoeWeights& m = *l.moe;
    total += bytes(m.router.data) + (m.shared ? mlp_bytes(*m.shared) : 0.0);
    if (m.fp8())
      total += routed * (bytes(m.fp8_experts[0].gate_up) + bytes(m.fp8_experts[0].down));
    else if (!m.experts.empty())
      total += routed * mlp_bytes(m.experts[0]);
  }
  return total;
}

double DeepSeekCudaModel::fp8_params_per_token() const {
  auto params = [](const DeviceLinear& l) { return l.is_fp8() ? static_cast<double>(l.rows() * l.cols()) : 0.0; };
  auto mlp_params = [&](const GatedMlpWeights& w) { return params(w.gate_up) + params(w.down); };
  double total = 0;
  for (const DeepSeekLayerWeights& l : weights_.layers) {
    const MlaWeights& a = l.attention;
    // kv_b_proj as a prefill's expanded form multiplies it: once per context position.
    total += params(a.q_and_kv_a) + params(a.q_b_proj) + params(a.kv_b_proj) + params(a.o_proj);
    if (l.dense) total += mlp_params(*l.dense);
    if (!l.moe) continue;
    if (l.moe->shared) total += mlp_params(*l.moe->shared);
    if (l.moe->fp8()) {
      const Fp8ExpertWeights& e = l.moe->fp8_experts[0];
      total += config_.num_experts_per_tok *
               static_cast<double>(e.gate_up.rows * e.gate_up.cols + e.down.rows * e.down.cols);
    }
  }
  return total;
}

void DeepSeekCudaModel::run_step(const Step& step, DeviceKvCache& cache) const {
  StepOps ops(*this, step, cache);
  deepseek_forward(ops, config_);
}

DeepSeekCudaModel::StepOps::StepOps(const DeepSeekCudaModel& model, const Step& step, DeviceKvCache& cache)
    : DecoderOps(model, step),
      m_(model),
      cache_(cache),
      folded_(step.tokens <= kGemvMaxRows && model.folded_decode_) {}

void DeepSeekCudaModel::StepOps::embed() { embed_with(m_.weights_.embed); }

GemvInput DeepSeekCudaModel::StepOps::norm(int layer, LayerNorm which) {
  const DeepSeekLayerWeights& w = m_.weights_.layers[layer];
  const bf16* weight = (which == LayerNorm::Input ? w.input_norm : w.post_attention_norm).data();
  // Folded, no norm is launched: the kernels that read the rows normalise them. Only a
  // feed-forward takes a pending output along (adding it into the residual with its own).
  if (folded_ && (which == LayerNorm::PostAttention || !has_pending_)) {
    const GemvInput h{.x = residual_, .delta = has_pending_ ? pending_ : nullptr, .norm_weight = weight, .eps = eps_};
    has_pending_ = false;
    return h;
  }
  return norm_with(weight);
}

void DeepSeekCudaModel::StepOps::logits() { logits_with(m_.weights_.final_norm.data(), m_.weights_.head()); }

}  // namespace tide::cuda
