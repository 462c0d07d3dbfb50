#include "model/cuda/deepseek_weights.h"

#include <fmt/format.h>

#include <optional>

#include "backend/cuda/cuda_check.h"
#include "common/error.h"

namespace tide::cuda {
namespace {

// W_UK[h]ᵀ of every head from an fp8 kv_b_proj [heads × (nope + v), r]: the first nope rows of each
// head's nope + v, transposed to [r, nope], and their block scales likewise.
DeviceFp8Matrix transposed_keys(const DeviceFp8Matrix& kv_b, int64_t heads, int64_t nope) {
  const int64_t r = kv_b.cols, per_head = kv_b.rows / heads;
  DeviceFp8Matrix t{.rows = heads * r, .cols = nope, .data = DeviceBuffer<uint8_t>(heads * r * nope),
                    .scales = DeviceBuffer<float>(heads * (r / 128) * (nope / 128))};
  transpose_matrices(kv_b.data.data(), nope, r, per_head * r, heads, t.data.data(), nullptr);
  transpose_matrices(kv_b.scales.data(), nope / 128, r / 128, (per_head / 128) * (r / 128), heads, t.scales.data(),
                     nullptr);
  return t;
}

MlaWeights load_mla(WeightSource& up, const ModelConfig& c, int layer) {
  const std::string p = fmt::format("model.layers.{}.self_attn.", layer);
  const int64_t H = c.num_heads, D = c.hidden_size, dk = c.qk_head_dim();
  MlaWeights w;
  const int64_t kv_a_rows = c.kv_lora_rank + c.qk_rope_head_dim;
  if (c.q_lora_rank > 0) {
    // Read at the width they have (MLA's Projection strides): kv_a's 576 rows may be padded.
    w.q_and_kv_a = up.stacked({{p + "q_a_proj.weight", c.q_lora_rank}, {p + "kv_a_proj_with_mqa.weight", kv_a_rows}}, D,
                              WeightSource::RowPadding::WholeBlocks);
    w.q_a_norm = up.norm(p + "q_a_layernorm.weight", c.q_lora_rank);
    w.q_b_proj = up.linear(p + "q_b_proj.weight", H * dk, c.q_lora_rank, WeightSource::RowPadding::WholeBlocks);
  } else {
    w.q_and_kv_a = up.stacked({{p + "q_proj.weight", H * dk}, {p + "kv_a_proj_with_mqa.weight", kv_a_rows}}, D,
                              WeightSource::RowPadding::WholeBlocks);
  }
  w.kv_a_norm = up.norm(p + "kv_a_layernorm.weight", c.kv_lora_rank);
  const int64_t kv_b_rows = H * (c.qk_nope_head_dim + c.v_head_dim);
  if (c.qk_nope_head_dim % 128 == 0 && c.v_head_dim % 128 == 0) {
    w.kv_b_proj = up.linear(p + "kv_b_proj.weight", kv_b_rows, c.kv_lora_rank);
    if (w.kv_b_proj.is_fp8()) w.keys_transposed = transposed_keys(w.kv_b_proj.fp8, H, c.qk_nope_head_dim);
  } else {
    w.kv_b_proj.weight = up.matrix(p + "kv_b_proj.weight", kv_b_rows, c.kv_lora_rank);
  }
  w.o_proj = up.linear(p + "o_proj.weight", D, H * c.v_head_dim);
  return w;
}

std::unique_ptr<MoeWeights> load_moe(WeightSource& up, const ModelConfig& c, int layer) {
  const std::string p = fmt::format("model.layers.{}.mlp.", layer);
  auto moe = std::make_unique<MoeWeights>();
  moe->router = up.matrix(p + "gate.weight", c.n_routed_experts, c.hidden_size);
  if (c.topk_method == "noaux_tc") moe->bias = up.bias(p + "gate.e_score_correction_bias", c.n_routed_experts);
  for (int e = 0; e < c.n_routed_experts; ++e) {
    const std::string expert = p + fmt::format("experts.{}", e);
    if (auto fp8 = up.fp8_expert(expert, c.hidden_size, c.moe_intermediate_size))
      moe->fp8_experts.push_back(std::move(*fp8));
    else
      moe->experts.push_back(up.mlp(expert, c.hidden_size, c.moe_intermediate_size));
  }
  if (!moe->experts.empty() && !moe->fp8_experts.empty())
    fail("layer {}: {} routed experts are stored in fp8 and {} otherwise; one layer's experts must share a format",
         layer, moe->fp8_experts.size(), moe->experts.size());
  std::vector<const bf16*> gate_up, down;
  for (const auto& x : moe->experts) {
    if (x.is_fp8()) fail("layer {}: a routed expert stored in fp8 was not read as an fp8 expert", layer);
    gate_up.push_back(x.gate_up.weight.data.data());
    down.push_back(x.down.weight.data.data());
  }
  std::vector<const uint8_t*> fp8_gate_up, fp8_down;
  std::vector<const float*> fp8_gate_up_scales, fp8_down_scales;
  for (const auto& x : moe->fp8_experts) {
    fp8_gate_up.push_back(x.gate_up.data.data());
    fp8_gate_up_scales.push_back(x.gate_up.scales.data());
    fp8_down.push_back(x.down.data.data());
    fp8_down_scales.push_back(x.down.scales.data());
  }
  moe->gate_up_by_expert = DeviceBuffer<const bf16*>(gate_up);
  moe->down_by_expert = DeviceBuffer<const bf16*>(down);
  moe->fp8_gate_up_by_expert = DeviceBuffer<const uint8_t*>(fp8_gate_up);
  moe->fp8_down_by_expert = DeviceBuffer<const uint8_t*>(fp8_down);
  moe->fp8_gate_up_scales_by_expert = DeviceBuffer<const float*>(fp8_gate_up_scales);
  moe->fp8_down_scales_by_expert = DeviceBuffer<const float*>(fp8_down_scales);
  if (c.n_shared_experts > 0)
    moe->shared = up.mlp(p + "shared_experts", c.hidden_size,
                         static_cast<int64_t>(c.moe_intermediate_size) * c.n_shared_experts);
  return moe;
}

DeepSeekWeights load_all(WeightSource& up, const ModelConfig& c) {
  DeepSeekWeights w;
  load_decoder_ends(up, c, w);
  for (int l = 0; l < c.num_layers; ++l) {
    DeepSeekLayerWeights layer;
    const std::string p = fmt::format("model.layers.{}.", l);
    layer.input_norm = up.norm(p + "input_layernorm.weight", c.hidden_size);
    layer.post_attention_norm = up.norm(p + "post_attention_layernorm.weight", c.hidden_size);
    layer.attention = load_mla(up, c, l);
    if (c.is_moe_layer(l))
      layer.moe = load_moe(up, c, l);
    else
      layer.dense = up.mlp(fmt::format("model.layers.{}.mlp", l), c.hidden_size, c.intermediate_size);
    w.layers.push_back(std::move(layer));
  }
  w.bytes = up.bytes();
  for (const auto& layer : w.layers) w.bytes += layer.attention.keys_transposed.bytes();
  // The dummy source's generators and W_UK's transposes run on the legacy stream, which the
  // forward pass's stream does not wait for.
  TIDE_CUDA_CHECK(cudaDeviceSynchronize());
  return w;
}

// Whether a model of this config keeps its fp8 matrices in fp8 (Fp8Weights::Native): an fp8
// config with DeepSeek-V3's 128×128 blocks.
bool keeps_fp8(const ModelConfig& c) { return c.fp8 && c.fp8->block_rows == 128 && c.fp8->block_cols == 128; }

}  // namespace

DeepSeekWeights load_deepseek_weights(const Checkpoint& checkpoint, const ModelConfig& config, Fp8Weights fp8_weights) {
  const auto source = checkpoint_source(checkpoint, config, fp8_weights == Fp8Weights::Native && keeps_fp8(config));
  return load_all(*source, config);
}

DeepSeekWeights dummy_deepseek_weights(const ModelConfig& config, uint64_t seed, Fp8Weights fp8_weights) {
  const auto source = dummy_source(seed, fp8_weights == Fp8Weights::Native && keeps_fp8(config));
  return load_all(*source, config);
}

}  // namespace tide::cuda
