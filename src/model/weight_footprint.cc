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

}  // namespace

uint64_t decode_params_per_token(const ModelConfig& c) {
  const uint64_t D = c.hidden_size;
  const uint64_t attention = attention_params(c);
  uint64_t total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    total += attention;
    if (c.is_moe_layer(l)) {
      total += c.n_routed_experts * D + (c.num_experts_per_tok + c.n_shared_experts) * expert_params(c);
    } else {
      total += 3 * D * c.intermediate_size;
    }
  }
  return total + D /* embedding row */ + c.vocab_size * D /* lm_head */;
}

double decode_params_per_step(const ModelConfig& c, int batch) {
  const double D = c.hidden_size, E = c.n_routed_experts, k = c.num_experts_per_tok;
  const double touched = E > 0 ? std::min(E, E * (1.0 - std::pow(1.0 - k / E, batch))) : 0.0;
  double total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    total += static_cast<double>(attention_params(c));
    if (c.is_moe_layer(l))
      total += E * D + (touched + c.n_shared_experts) * static_cast<double>(expert_params(c));
    else
      total += 3.0 * D * c.intermediate_size;
  }
  return total + batch * D + static_cast<double>(c.vocab_size) * D;
}

uint64_t forward_matmul_params_per_token(const ModelConfig& c) {
  uint64_t total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    total += attention_params(c);
    if (c.is_moe_layer(l))
      total += static_cast<uint64_t>(c.n_routed_experts) * c.hidden_size +
               static_cast<uint64_t>(c.num_experts_per_tok + c.n_shared_experts) * expert_params(c);
    else
      total += 3ull * c.hidden_size * c.intermediate_size;
  }
  return total;
}

}  // namespace tide
