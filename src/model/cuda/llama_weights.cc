#include "model/cuda/llama_weights.h"

#include <fmt/format.h>

#include "backend/cuda/cuda_check.h"
#include "model/cuda/weight_source.h"

namespace tide::cuda {
namespace {

LlamaWeights load_all(WeightSource& up, const ModelConfig& c) {
  LlamaWeights w;
  const int64_t D = c.hidden_size, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd;
  load_decoder_ends(up, c, w);
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    LlamaLayerWeights layer;
    layer.input_norm = up.norm(p + "input_layernorm.weight", D);
    layer.post_attention_norm = up.norm(p + "post_attention_layernorm.weight", D);
    const std::string a = p + "self_attn.";
    layer.qkv = up.stacked({{a + "q_proj.weight", q_dim}, {a + "k_proj.weight", kv_dim}, {a + "v_proj.weight", kv_dim}}, D);
    if (c.qkv_bias)
      layer.qkv_bias = up.stacked_bias({{a + "q_proj.bias", q_dim}, {a + "k_proj.bias", kv_dim}, {a + "v_proj.bias", kv_dim}});
    layer.o_proj = up.linear(a + "o_proj.weight", D, q_dim);
    layer.mlp = up.mlp(p + "mlp", D, c.intermediate_size);
    w.layers.push_back(std::move(layer));
  }
  w.bytes = up.bytes();
  return w;
}

}  // namespace

LlamaWeights load_llama_weights(const Checkpoint& checkpoint, const ModelConfig& config) {
  return load_all(*checkpoint_source(checkpoint, config, false), config);
}

LlamaWeights dummy_llama_weights(const ModelConfig& config, uint64_t seed) {
  LlamaWeights w = load_all(*dummy_source(seed, false), config);
  TIDE_CUDA_CHECK(cudaDeviceSynchronize());
  return w;
}

}  // namespace tide::cuda
