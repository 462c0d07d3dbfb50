#include "model/cuda/deepseek_weights.h"

#include <fmt/format.h>

#include "model/mlp.h"
#include "model/weights.h"

namespace tide::cuda {
namespace {

class Uploader {
 public:
  Uploader(const Checkpoint& checkpoint, const ModelConfig& config) : loader_(checkpoint, config) {}

  DeviceMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    return count(upload(loader_.matrix(name, rows, cols)));
  }
  DeviceBuffer<bf16> vector(const std::string& name, int64_t size) { return upload_bf16(loader_.vector(name, size)); }
  DeviceBuffer<float> vector_f32(const std::string& name, int64_t size) {
    return DeviceBuffer<float>(loader_.vector(name, size));
  }
  GatedMlpWeights mlp(const std::string& prefix, int64_t hidden, int64_t intermediate) {
    const GatedMlp host = GatedMlp::load(loader_, prefix, hidden, intermediate);
    return {count(upload_stacked(host.gate, host.up)), count(upload(host.down))};
  }
  std::size_t bytes() const { return bytes_; }

 private:
  DeviceMatrix count(DeviceMatrix m) {
    bytes_ += m.data.bytes();
    return m;
  }
  WeightLoader loader_;
  std::size_t bytes_ = 0;
};

MlaWeights load_mla(Uploader& up, const ModelConfig& c, int layer) {
  const std::string p = fmt::format("model.layers.{}.self_attn.", layer);
  const int64_t H = c.num_heads, D = c.hidden_size, dk = c.qk_head_dim();
  MlaWeights w;
  if (c.q_lora_rank > 0) {
    w.q_a_proj = up.matrix(p + "q_a_proj.weight", c.q_lora_rank, D);
    w.q_a_norm = up.vector(p + "q_a_layernorm.weight", c.q_lora_rank);
    w.q_b_proj = up.matrix(p + "q_b_proj.weight", H * dk, c.q_lora_rank);
  } else {
    w.q_proj = up.matrix(p + "q_proj.weight", H * dk, D);
  }
  w.kv_a_proj = up.matrix(p + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, D);
  w.kv_a_norm = up.vector(p + "kv_a_layernorm.weight", c.kv_lora_rank);
  w.kv_b_proj = up.matrix(p + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  w.o_proj = up.matrix(p + "o_proj.weight", D, H * c.v_head_dim);
  return w;
}

std::unique_ptr<MoeWeights> load_moe(Uploader& up, const ModelConfig& c, int layer) {
  const std::string p = fmt::format("model.layers.{}.mlp.", layer);
  auto moe = std::make_unique<MoeWeights>();
  moe->router = up.matrix(p + "gate.weight", c.n_routed_experts, c.hidden_size);
  if (c.topk_method == "noaux_tc") moe->bias = up.vector_f32(p + "gate.e_score_correction_bias", c.n_routed_experts);
  for (int e = 0; e < c.n_routed_experts; ++e)
    moe->experts.push_back(up.mlp(p + fmt::format("experts.{}", e), c.hidden_size, c.moe_intermediate_size));
  if (c.n_shared_experts > 0)
    moe->shared = up.mlp(p + "shared_experts", c.hidden_size,
                         static_cast<int64_t>(c.moe_intermediate_size) * c.n_shared_experts);
  return moe;
}

}  // namespace

DeepSeekWeights load_deepseek_weights(const Checkpoint& checkpoint, const ModelConfig& c) {
  Uploader up(checkpoint, c);
  DeepSeekWeights w;
  w.embed = up.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  if (!c.tie_word_embeddings) w.lm_head = up.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  w.final_norm = up.vector("model.norm.weight", c.hidden_size);
  for (int l = 0; l < c.num_layers; ++l) {
    DeepSeekLayerWeights layer;
    const std::string p = fmt::format("model.layers.{}.", l);
    layer.input_norm = up.vector(p + "input_layernorm.weight", c.hidden_size);
    layer.post_attention_norm = up.vector(p + "post_attention_layernorm.weight", c.hidden_size);
    layer.attention = load_mla(up, c, l);
    if (c.is_moe_layer(l))
      layer.moe = load_moe(up, c, l);
    else
      layer.dense = up.mlp(fmt::format("model.layers.{}.mlp", l), c.hidden_size, c.intermediate_size);
    w.layers.push_back(std::move(layer));
  }
  w.bytes = up.bytes();
  return w;
}

}  // namespace tide::cuda
