#pragma once
// A model's config.json, parsed once into a typed struct. Two families share the engine:
// `deepseek` (deepseek_v2, deepseek_v3: MLA attention + MoE) and `llama` (llama, qwen2: GQA,
// dense MLP — the R1-Distill models).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide {

enum class ModelFamily { DeepSeek, Llama };

struct RopeScaling {
  enum class Type { None, Yarn, Llama3, Linear };
  Type type = Type::None;
  double factor = 1.0;
  int original_max_position_embeddings = 0;
  // YaRN
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
};

struct Fp8Quantization {
  int block_rows = 128;  // weight_block_size[0]: output dimension
  int block_cols = 128;  // weight_block_size[1]: input dimension
};

struct ModelConfig {
  std::string model_type;
  ModelFamily family = ModelFamily::Llama;

  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // llama family
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // qwen2 always; llama when attention_bias
  std::vector<int> eos_token_ids;
  std::optional<int> bos_token_id;

  // MLA (deepseek family)
  int q_lora_rank = 0;  // 0: queries through a single q_proj (V2-Lite)
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;

  // MoE (deepseek family)
  int n_routed_experts = 0;
  int n_shared_experts = 0;
  int num_experts_per_tok = 0;
  int moe_intermediate_size = 0;
  int first_k_dense_replace = 0;
  int moe_layer_freq = 1;
  int n_group = 1;
  int topk_group = 1;
  std::string scoring_func = "softmax";  // softmax | sigmoid
  std::string topk_method = "greedy";    // greedy | group_limited_greedy | noaux_tc
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;

  RopeScaling rope_scaling;
  bool rope_interleaved = false;  // DeepSeek rotates adjacent pairs; llama/qwen2 rotate halves
  std::optional<Fp8Quantization> fp8;

  bool is_moe_layer(int layer) const {
    return family == ModelFamily::DeepSeek && n_routed_experts > 0 && layer >= first_k_dense_replace &&
           layer % moe_layer_freq == 0;
  }
  int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Floats one cached token occupies per layer: the MLA latent plus the shared rope key, or
  // per-head K and V for GQA.
  int kv_entry_dim() const {
    return family == ModelFamily::DeepSeek ? kv_lora_rank + qk_rope_head_dim : 2 * num_kv_heads * head_dim;
  }
};

// Throws tide::Error naming `origin` and the field for missing, mistyped or inconsistent values,
// and for a model_type Tide does not serve.
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin);
ModelConfig load_model_config(const std::filesystem::path& model_dir);

}  // namespace tide
