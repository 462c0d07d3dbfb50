#include "model/weight_footprint.h"

#include <algorithm>
#include <cmath>

namespace tide {
namespace {

uint64_t attention_params(const ModelConfig& c) {
  const uint64_t D = c.hidden_size, H = c.num_heads;
  uint64_t attention;
  if (c.family == ModelFamily::DeepSeek) {
    const uint64_t dk = c.qk_head_dim();
    const uint64_t q = c.q_lora_rank > 0 ? c.q_lora_rank * D + H * dk * c.q_lora_rank : H * dk * D;
    attention = q + (c.kv_lora_rank + c.qk_rope_head_dim) * D +
                H * (c.qk_nope_head_dim + c.v_head_dim) * c.kv_lora_rank + D * H * c.v_head_dim;
  } else {
    const uint64_t kv = c.num_kv_heads * c.head_dim;
    attention = D * (H * c.head_dim) * 2 + 2 * D * kv;
  }
  return attention;
}

uint64_t expert_params(const ModelConfig& c) { return 3ull * c.hidden_size * c.moe_intermediate_size; }

// Parameters of every layer a token passes through, reading `routed_experts` of each MoE layer's
// routed experts (plus its router and shared experts). Exact in a double: far below 2^53.
double layer_params(const ModelConfig& c, double routed_experts) {
  const double D = c.hidden_size;
  double total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    total += static_cast<double>(attention_params(c));
    if (c.is_moe_layer(l))
      total += c.n_routed_experts * D + (routed_experts + c.n_shared_experts) * static_cast<double>(expert_params(c));
    else
      total += 3.0 * D * c.intermediate_size;
  }
  return total;
}

}  // namespace

double touched_experts(const ModelConfig& c, int batch) {
  const double E = c.n_routed_experts, k = c.num_experts_per_tok;
  if (E <= 0) return 0.0;
  if (batch == 1) return k;  // exactly (the formula would round to a hair above it)
  return std::min(E, E * (1.0 - std::pow(1.0 - k / E, batch)));
}

uint64_t decode_params_per_token(const ModelConfig& c) {
  return static_cast<uint64_t>(decode_params_per_step(c, 1));
}

double decode_params_per_step(const ModelConfig& c, int batch) {
  const double D = c.hidden_size;
  return layer_params(c, touched_experts(c, batch)) + batch * D /* embedding rows */ +
         static_cast<double>(c.vocab_size) * D /* lm_head */;
}

uint64_t forward_matmul_params_per_token(const ModelConfig& c) {
  return static_cast<uint64_t>(layer_params(c, c.num_experts_per_tok));
}

}  // namespace tide
