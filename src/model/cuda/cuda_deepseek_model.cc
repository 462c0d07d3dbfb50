#include "model/cuda/cuda_deepseek_model.h"

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "common/error.h"
#include "model/cuda/cuda_deepseek_ops.h"
#include "model/cuda/router_params.h"
#include "model/deepseek/forward_pass.h"
#include "model/rope.h"

namespace tide::cuda {

DeepSeekCudaModel::DeepSeekCudaModel(ModelConfig config, DeepSeekWeights weights)
    : CudaModelBase(std::move(config)),
      weights_(std::move(weights)),
      bf16_expert_layers_(std::any_of(weights_.layers.begin(), weights_.layers.end(),
                                      [](const DeepSeekLayerWeights& l) { return l.moe && !l.moe->fp8(); })),
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
