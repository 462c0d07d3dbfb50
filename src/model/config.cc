#include "model/config.h"

#include "common/error.h"
#include "common/json_file.h"
#include "common/paths.h"

namespace tide {
namespace {

// A value as an error message shows it. Arrays and objects are named by type only: dump()
// recurses once per nesting level, and a hostile config.json can nest deep enough to overflow the
// stack.
std::string shown(const nlohmann::json& v) { return v.is_structured() ? std::string(v.type_name()) : v.dump(); }

// Typed field access that names the file and the field in every error.
class Fields {
 public:
  Fields(const nlohmann::json& json, std::string origin) : json_(json), origin_(std::move(origin)) {}

  bool has(const char* key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  int integer(const char* key, std::optional<int> fallback = std::nullopt, int min = 0, int max = 1 << 30) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      fail("{}: missing required field '{}'", origin_, key);
    }
    const auto& v = json_.at(key);
    if (!v.is_number_integer()) fail("{}: field '{}' must be an integer, got {}", origin_, key, shown(v));
    int64_t n = v.get<int64_t>();
    if (n < min || n > max) fail("{}: field '{}' = {} is out of range [{}, {}]", origin_, key, n, min, max);
    return static_cast<int>(n);
  }

  double number(const char* key, std::optional<double> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      fail("{}: missing required field '{}'", origin_, key);
    }
    const auto& v = json_.at(key);
    if (!v.is_number()) fail("{}: field '{}' must be a number, got {}", origin_, key, shown(v));
    return v.get<double>();
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const auto& v = json_.at(key);
    if (!v.is_boolean()) fail("{}: field '{}' must be true or false, got {}", origin_, key, shown(v));
    return v.get<bool>();
  }

  std::string string(const char* key, std::optional<std::string> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      fail("{}: missing required field '{}'", origin_, key);
    }
    const auto& v = json_.at(key);
    if (!v.is_string()) fail("{}: field '{}' must be a string, got {}", origin_, key, shown(v));
    return v.get<std::string>();
  }

  const std::string& origin() const { return origin_; }

 private:
  const nlohmann::json& json_;
  std::string origin_;
};

RopeScaling parse_rope_scaling(const nlohmann::json& json, const std::string& origin, int max_positions) {
  RopeScaling rope;
  if (json.is_null()) return rope;
  if (!json.is_object()) fail("{}: 'rope_scaling' must be an object or null", origin);
  Fields f(json, origin + " rope_scaling");
  std::string type = f.has("rope_type") ? f.string("rope_type") : f.string("type", "default");
  rope.factor = f.number("factor", 1.0);
  if (rope.factor <= 0) fail("{}: rope_scaling.factor must be positive", origin);
  rope.original_max_position_embeddings = f.integer("original_max_position_embeddings", max_positions, 1);
  if (type == "default") {
    rope.type = RopeScaling::Type::None;
  } else if (type == "yarn") {
    rope.type = RopeScaling::Type::Yarn;
    rope.beta_fast = f.number("beta_fast", 32.0);
    rope.beta_slow = f.number("beta_slow", 1.0);
    rope.mscale = f.number("mscale", 1.0);
    rope.mscale_all_dim = f.number("mscale_all_dim", 0.0);
  } else if (type == "llama3") {
    rope.type = RopeScaling::Type::Llama3;
    rope.low_freq_factor = f.number("low_freq_factor");
    rope.high_freq_factor = f.number("high_freq_factor");
    if (rope.high_freq_factor <= rope.low_freq_factor)
      fail("{}: rope_scaling.high_freq_factor must exceed low_freq_factor", origin);
  } else if (type == "linear") {
    rope.type = RopeScaling::Type::Linear;
  } else {
    fail("{}: unsupported rope_scaling type '{}' (supported: yarn, llama3, linear, default)", origin, type);
  }
  return rope;
}

void parse_eos(const nlohmann::json& json, ModelConfig& config, const std::string& origin) {
  auto it = json.find("eos_token_id");
  if (it == json.end() || it->is_null()) return;
  auto add = [&](const nlohmann::json& v) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= config.vocab_size)
      fail("{}: eos_token_id {} is not a token id below vocab_size {}", origin, shown(v), config.vocab_size);
    config.eos_token_ids.push_back(v.get<int>());
  };
  if (it->is_array())
    for (const auto& v : *it) add(v);
  else
    add(*it);
}

void parse_deepseek(const Fields& f, const nlohmann::json& json, ModelConfig& c) {
  c.family = ModelFamily::DeepSeek;
  c.q_lora_rank = f.integer("q_lora_rank", 0);
  c.kv_lora_rank = f.integer("kv_lora_rank", std::nullopt, 1);
  c.qk_nope_head_dim = f.integer("qk_nope_head_dim", std::nullopt, 1);
  c.qk_rope_head_dim = f.integer("qk_rope_head_dim", std::nullopt, 2);
  c.v_head_dim = f.integer("v_head_dim", std::nullopt, 1);
  if (c.qk_rope_head_dim % 2 != 0) fail("{}: qk_rope_head_dim must be even", f.origin());
  c.n_routed_experts = f.integer("n_routed_experts", 0);
  c.n_shared_experts = f.integer("n_shared_experts", 0);
  c.moe_intermediate_size = f.integer("moe_intermediate_size", c.n_routed_experts ? std::nullopt : std::optional(0));
  c.num_experts_per_tok = f.integer("num_experts_per_tok", c.n_routed_experts ? std::nullopt : std::optional(0));
  c.first_k_dense_replace = f.integer("first_k_dense_replace", 0);
  c.moe_layer_freq = f.integer("moe_layer_freq", 1, 1);
  c.n_group = f.integer("n_group", 1, 1);
  c.topk_group = f.integer("topk_group", 1, 1);
  c.norm_topk_prob = f.boolean("norm_topk_prob", false);
  c.routed_scaling_factor = f.number("routed_scaling_factor", 1.0);
  c.scoring_func = f.string("scoring_func", "softmax");
  c.topk_method = f.string("topk_method", c.model_type == "deepseek_v3" ? "noaux_tc" : "greedy");
  c.rope_interleaved = true;
  if (c.scoring_func != "softmax" && c.scoring_func != "sigmoid")
    fail("{}: unsupported scoring_func '{}' (softmax or sigmoid)", f.origin(), c.scoring_func);
  if (c.topk_method != "greedy" && c.topk_method != "group_limited_greedy" && c.topk_method != "noaux_tc")
    fail("{}: unsupported topk_method '{}' (greedy, group_limited_greedy or noaux_tc)", f.origin(), c.topk_method);
  if (c.n_routed_experts > 0) {
    if (c.num_experts_per_tok < 1 || c.num_experts_per_tok > c.n_routed_experts)
      fail("{}: num_experts_per_tok must be in [1, n_routed_experts]", f.origin());
    if (c.n_routed_experts % c.n_group != 0) fail("{}: n_routed_experts must be divisible by n_group", f.origin());
    if (c.topk_group > c.n_group) fail("{}: topk_group exceeds n_group", f.origin());
    if (c.topk_method != "greedy" &&
        c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok)
      fail("{}: topk_group groups hold fewer experts than num_experts_per_tok", f.origin());
  }
  if (json.contains("quantization_config") && !json.at("quantization_config").is_null()) {
    const auto& q = json.at("quantization_config");
    Fields qf(q, f.origin() + " quantization_config");
    if (!q.is_object()) fail("{}: 'quantization_config' must be an object", f.origin());
    std::string method = qf.string("quant_method");
    if (method != "fp8") fail("{}: unsupported quant_method '{}' (Tide reads fp8 block-scaled checkpoints)", f.origin(), method);
    Fp8Quantization fp8;
    if (q.contains("weight_block_size")) {
      const auto& b = q.at("weight_block_size");
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
          b[0].get<int>() < 1 || b[1].get<int>() < 1)
        fail("{}: quantization_config.weight_block_size must be two positive integers", f.origin());
      fp8.block_rows = b[0].get<int>();
      fp8.block_cols = b[1].get<int>();
    }
    c.fp8 = fp8;
  }
}

}  // namespace

ModelConfig parse_model_config(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object()) fail("{}: config must be a JSON object", origin);
  Fields f(json, origin);
  ModelConfig c;
  c.model_type = f.string("model_type");
  c.vocab_size = f.integer("vocab_size", std::nullopt, 1);
  c.hidden_size = f.integer("hidden_size", std::nullopt, 1);
  c.intermediate_size = f.integer("intermediate_size", std::nullopt, 1);
  c.num_layers = f.integer("num_hidden_layers", std::nullopt, 1, 4096);
  c.num_heads = f.integer("num_attention_heads", std::nullopt, 1, 4096);
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads, 1, 4096);
  c.max_position_embeddings = f.integer("max_position_embeddings", 4096, 1);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  if (f.has("bos_token_id")) c.bos_token_id = f.integer("bos_token_id");
  parse_eos(json, c, origin);
  std::string act = f.string("hidden_act", "silu");
  if (act != "silu") fail("{}: unsupported hidden_act '{}' (silu)", origin, act);
  c.rope_scaling = parse_rope_scaling(json.contains("rope_scaling") ? json.at("rope_scaling") : nlohmann::json(),
                                      origin, c.max_position_embeddings);

  if (c.model_type == "deepseek_v2" || c.model_type == "deepseek_v3") {
    parse_deepseek(f, json, c);
  } else if (c.model_type == "llama" || c.model_type == "qwen2") {
    c.family = ModelFamily::Llama;
    if (c.hidden_size % c.num_heads != 0 && !f.has("head_dim"))
      fail("{}: hidden_size is not divisible by num_attention_heads and no head_dim is given", origin);
    c.head_dim = f.integer("head_dim", c.hidden_size / c.num_heads, 2);
    if (c.num_heads % c.num_kv_heads != 0) fail("{}: num_attention_heads must be a multiple of num_key_value_heads", origin);
    c.qkv_bias = c.model_type == "qwen2" || f.boolean("attention_bias", false);
    if (f.boolean("mlp_bias", false)) fail("{}: mlp_bias is not supported", origin);
    if (f.boolean("use_sliding_window", false)) fail("{}: sliding-window attention is not supported", origin);
  } else {
    fail("{}: unsupported model_type '{}' (Tide serves deepseek_v2, deepseek_v3, qwen2 and llama)", origin,
         c.model_type);
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& model_dir) {
  auto path = model_dir / "config.json";
  if (!path_exists(path)) fail("{}: not found; --model must be a model directory with config.json", path.string());
  return parse_model_config(read_json_file(path), path.string());
}

}  // namespace tide
