#include "model/deepseek/deepseek_model.h"

#include <fmt/format.h>

namespace tide {

DeepSeekModel::DeepSeekModel(ModelConfig config, Checkpoint checkpoint, const ModelOptions& options)
    : DecoderModel(std::move(config), std::move(checkpoint)), rope_(config_, config_.qk_rope_head_dim) {
  WeightLoader loader(checkpoint_, config_, options.quantization);
  load_shared(loader);
  for (int l = 0; l < config_.num_layers; ++l) {
    attention_.emplace_back(loader, config_, l, options.mla_mode);
    if (config_.is_moe_layer(l)) {
      dense_.emplace_back();
      moe_.push_back(std::make_unique<MoeBlock>(loader, config_, l));
    } else {
      dense_.push_back(GatedMlp::load(loader, fmt::format("model.layers.{}.mlp", l), config_.hidden_size,
                                      config_.intermediate_size));
      moe_.push_back(nullptr);
    }
  }
  set_weight_bytes(loader.matrix_bytes());
}

void DeepSeekModel::attention(int layer, const float* h, const Batch& batch, const BatchLayout& layout,
                              PagedKvCache& cache, float* out) const {
  attention_[layer].forward(h, batch, layout, cache, rope_, out);
}

void DeepSeekModel::feed_forward(int layer, const float* h, int64_t tokens, float* out) const {
  if (moe_[layer])
    moe_[layer]->forward(h, tokens, out);
  else
    dense_[layer]->forward(h, tokens, out);
}

}  // namespace tide
