#include "model/random_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <fstream>
#include <span>
#include <vector>

#include "common/error.h"
#include "model/checkpoint/safetensors.h"
#include "tensor/dtype.h"

namespace tide {
namespace {

// splitmix64: tiny, fast and identical everywhere (std::normal_distribution is not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Box–Muller
  double normal() {
    const double u1 = uniform() + 1e-300, u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  uint64_t state_;
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  enum Init { Normal, Ones, SmallBias } init;
};

constexpr int64_t kFp8Block = 128;

// The matrices an fp8 checkpoint stores in fp8: the projections and the MLPs' (every "*_proj").
bool stored_in_fp8(const RandomDeepSeekShape& s, const TensorSpec& spec) {
  return s.fp8 && spec.shape.size() == 2 && spec.name.find("_proj") != std::string::npos;
}

int64_t elements(const TensorSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  return n;
}

// A matrix's values in e4m3 with one scale per 128×128 block: amax / 448 (1 for an all-zero block),
// times 1, 2 or 4 from block to block. A real checkpoint's scales differ from block to block; so
// must these, or a product that read a neighbouring block's scale would go unnoticed.
struct Fp8Matrix {
  std::vector<uint8_t> values;
  std::vector<float> scales;  // [ceil(rows / 128), ceil(cols / 128)]
};
Fp8Matrix quantize_blocks(const std::vector<float>& w, int64_t rows, int64_t cols) {
  const int64_t scale_rows = (rows + kFp8Block - 1) / kFp8Block, scale_cols = (cols + kFp8Block - 1) / kFp8Block;
  Fp8Matrix q{std::vector<uint8_t>(w.size()), std::vector<float>(scale_rows * scale_cols)};
  for (int64_t br = 0; br < scale_rows; ++br)
    for (int64_t bc = 0; bc < scale_cols; ++bc) {
      const int64_t r_end = std::min(rows, (br + 1) * kFp8Block), c_end = std::min(cols, (bc + 1) * kFp8Block);
      float amax = 0.f;
      for (int64_t r = br * kFp8Block; r < r_end; ++r)
        for (int64_t c = bc * kFp8Block; c < c_end; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const float scale = (amax > 0.f ? amax / 448.f : 1.f) * static_cast<float>(1 << ((br + bc) % 3));
      q.scales[br * scale_cols + bc] = scale;
      for (int64_t r = br * kFp8Block; r < r_end; ++r)
        for (int64_t c = bc * kFp8Block; c < c_end; ++c) q.values[r * cols + c] = f32_to_fp8_e4m3(w[r * cols + c] / scale);
    }
  return q;
}

std::vector<TensorSpec> tensor_specs(const RandomDeepSeekShape& s) {
  const int64_t D = s.hidden_size, H = s.num_heads;
  std::vector<TensorSpec> specs = {{"model.embed_tokens.weight", {s.vocab_size, D}, TensorSpec::Normal}};
  auto mlp = [&](const std::string& p, int64_t inter) {
    specs.push_back({p + ".gate_proj.weight", {inter, D}, TensorSpec::Normal});
    specs.push_back({p + ".up_proj.weight", {inter, D}, TensorSpec::Normal});
    specs.push_back({p + ".down_proj.weight", {D, inter}, TensorSpec::Normal});
  };
  for (int l = 0; l < s.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    specs.push_back({p + "input_layernorm.weight", {D}, TensorSpec::Ones});
    specs.push_back({p + "post_attention_layernorm.weight", {D}, TensorSpec::Ones});
    specs.push_back({p + "self_attn.q_a_proj.weight", {s.q_lora_rank, D}, TensorSpec::Normal});
    specs.push_back({p + "self_attn.q_a_layernorm.weight", {s.q_lora_rank}, TensorSpec::Ones});
    specs.push_back({p + "self_attn.q_b_proj.weight", {H * (s.qk_nope_head_dim + s.qk_rope_head_dim), s.q_lora_rank},
                     TensorSpec::Normal});
    specs.push_back({p + "self_attn.kv_a_proj_with_mqa.weight", {s.kv_lora_rank + s.qk_rope_head_dim, D},
                     TensorSpec::Normal});
    specs.push_back({p + "self_attn.kv_a_layernorm.weight", {s.kv_lora_rank}, TensorSpec::Ones});
    specs.push_back({p + "self_attn.kv_b_proj.weight", {H * (s.qk_nope_head_dim + s.v_head_dim), s.kv_lora_rank},
                     TensorSpec::Normal});
    specs.push_back({p + "self_attn.o_proj.weight", {D, H * s.v_head_dim}, TensorSpec::Normal});
    if (l < s.first_k_dense_replace) {
      mlp(p + "mlp", s.intermediate_size);
    } else {
      specs.push_back({p + "mlp.gate.weight", {s.n_routed_experts, D}, TensorSpec::Normal});
      specs.push_back({p + "mlp.gate.e_score_correction_bias", {s.n_routed_experts}, TensorSpec::SmallBias});
      for (int e = 0; e < s.n_routed_experts; ++e) mlp(p + fmt::format("mlp.experts.{}", e), s.moe_intermediate_size);
      mlp(p + "mlp.shared_experts", int64_t{s.moe_intermediate_size} * s.n_shared_experts);
    }
  }
  specs.push_back({"model.norm.weight", {D}, TensorSpec::Ones});
  specs.push_back({"lm_head.weight", {s.vocab_size, D}, TensorSpec::Normal});
  return specs;
}

nlohmann::ordered_json config_json(const RandomDeepSeekShape& s) {
  nlohmann::ordered_json config = {
      {"_comment", "Tide demo model: DeepSeek-V3 architecture with deterministic random weights. Its output is "
                   "meaningless text."},
      {"architectures", {"DeepseekV3ForCausalLM"}},
      {"model_type", "deepseek_v3"},
      {"vocab_size", s.vocab_size},
      {"hidden_size", s.hidden_size},
      {"intermediate_size", s.intermediate_size},
      {"moe_intermediate_size", s.moe_intermediate_size},
      {"num_hidden_layers", s.num_layers},
      {"num_attention_heads", s.num_heads},
      {"num_key_value_heads", s.num_heads},
      {"n_shared_experts", s.n_shared_experts},
      {"n_routed_experts", s.n_routed_experts},
      {"routed_scaling_factor", 2.5},
      {"kv_lora_rank", s.kv_lora_rank},
      {"q_lora_rank", s.q_lora_rank},
      {"qk_rope_head_dim", s.qk_rope_head_dim},
      {"qk_nope_head_dim", s.qk_nope_head_dim},
      {"v_head_dim", s.v_head_dim},
      {"topk_method", "noaux_tc"},
      {"scoring_func", "sigmoid"},
      {"n_group", s.n_group},
      {"topk_group", s.topk_group},
      {"num_experts_per_tok", s.num_experts_per_tok},
      {"first_k_dense_replace", s.first_k_dense_replace},
      {"moe_layer_freq", 1},
      {"norm_topk_prob", true},
      {"hidden_act", "silu"},
      {"max_position_embeddings", s.max_position_embeddings},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", 10000.0},
      {"rope_scaling",
       {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", s.max_position_embeddings / 4},
        {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}}},
      {"bos_token_id", 0},
      {"eos_token_id", 1},
      {"tie_word_embeddings", false},
      {"torch_dtype", "bfloat16"},
  };
  if (s.fp8)
    config["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                     {"weight_block_size", {kFp8Block, kFp8Block}}};
  return config;
}

}  // namespace

RandomDeepSeekShape demo_model_shape() { return {}; }

uint64_t random_deepseek_weight_bytes(const RandomDeepSeekShape& shape) {
  uint64_t bytes = 0;
  for (const auto& spec : tensor_specs(shape)) {
    const auto n = static_cast<uint64_t>(elements(spec));
    if (!stored_in_fp8(shape, spec)) {
      bytes += 2 * n;
      continue;
    }
    const auto blocks = static_cast<uint64_t>(((spec.shape[0] + kFp8Block - 1) / kFp8Block) *
                                              ((spec.shape[1] + kFp8Block - 1) / kFp8Block));
    bytes += n + 4 * blocks;
  }
  return bytes;
}

void write_random_deepseek(const std::filesystem::path& dir, const RandomDeepSeekShape& shape, uint64_t seed) {
  std::filesystem::create_directories(dir);
  Random rng(seed);
  const auto specs = tensor_specs(shape);
  std::vector<std::vector<std::byte>> storage;
  storage.reserve(2 * specs.size());
  std::vector<TensorToWrite> tensors;
  auto keep = [&](const std::string& name, DType dtype, std::vector<int64_t> dims, std::span<const std::byte> bytes) {
    storage.emplace_back(bytes.begin(), bytes.end());
    tensors.push_back({name, dtype, std::move(dims), storage.back()});
  };
  for (const auto& spec : specs) {
    std::vector<float> values(static_cast<std::size_t>(elements(spec)));
    // Fan-in scaled weights keep activations O(1) through every layer, so the demo's logits
    // are varied rather than saturated.
    const double stddev = spec.shape.size() == 2 ? 1.0 / std::sqrt(static_cast<double>(spec.shape[1])) : 0.0;
    for (auto& v : values) {
      switch (spec.init) {
        case TensorSpec::Normal: v = static_cast<float>(rng.normal() * stddev); break;
        case TensorSpec::Ones: v = 1.f; break;
        case TensorSpec::SmallBias: v = static_cast<float>(0.01 * rng.normal()); break;
      }
    }
    if (stored_in_fp8(shape, spec)) {
      const Fp8Matrix q = quantize_blocks(values, spec.shape[0], spec.shape[1]);
      keep(spec.name, DType::F8_E4M3, spec.shape, std::as_bytes(std::span(q.values)));
      keep(spec.name + "_scale_inv", DType::F32,
           {(spec.shape[0] + kFp8Block - 1) / kFp8Block, (spec.shape[1] + kFp8Block - 1) / kFp8Block},
           std::as_bytes(std::span(q.scales)));
      continue;
    }
    std::vector<uint16_t> bf16(values.size());
    std::transform(values.begin(), values.end(), bf16.begin(), f32_to_bf16);
    keep(spec.name, DType::BF16, spec.shape, std::as_bytes(std::span(bf16)));
  }
  write_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream config(dir / "config.json");
  config << config_json(shape).dump(2) << "\n";
  if (!config) fail("{}: cannot write config.json", dir.string());
}

}  // namespace tide
