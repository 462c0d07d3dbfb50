#include "model/weight_footprint.h"

namespace tide {

uint64_t decode_params_per_token(const ModelConfig& c) {
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
  uint64_t total = 0;
  for (int l = 0; l < c.num_layers; ++l) {
    total += attention;
    if (c.is_moe_layer(l)) {
      const uint64_t expert = 3 * D * c.moe_intermediate_size;
      total += c.n_routed_experts * D + (c.num_experts_per_tok + c.n_shared_experts) * expert;
    } else {
      total += 3 * D * c.intermediate_size;
    }
  }
  return total + D /* embedding row */ + c.vocab_size * D /* lm_head */;
}

}  // namespace tide
