#pragma once
// Multi-head latent attention (DeepSeek-V2 §2.1). Keys and values are compressed into a
// kv_lora_rank latent plus one rope key shared by all heads; the cache holds only those
// (576 floats per token per layer for V2/V3).
//  - Expanded form (prefill): up-project every cached latent through kv_b_proj into per-head
//    keys and values, then ordinary attention. Cheap when many queries share the expansion.
//  - Absorbed form (decode): fold kv_b_proj's key half into the query and its value half into
//    the output, and attend directly over the latent cache, as multi-query attention with
//    head size kv_lora_rank + rope. No per-token expansion at all.
#include <span>
#include <string>

#include "model/batch.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/model.h"
#include "model/rope.h"
#include "model/weights.h"

namespace tide {

class MlaAttention {
 public:
  MlaAttention(WeightLoader& loader, const ModelConfig& config, int layer, MlaMode mode);

  void forward(const float* h, const Batch& batch, const BatchLayout& layout, PagedKvCache& cache,
               const RotaryEmbedding& rope, float* out) const;

 private:
  // q[T, heads, nope + rope] with rope applied; writes latent + rope key of every new token.
  void project(const float* h, int64_t tokens, const BatchLayout& layout, PagedKvCache& cache, const Batch& batch,
               const RotaryEmbedding& rope, float* q) const;
  void attend_expanded(const float* q, const SequenceStep& seq, const PagedKvCache& cache, float* out) const;
  // Absorbed form: queries folded into latent space, attention over the latent cache, and the
  // attended latents expanded to values; `tokens` are batch rows of the absorbed sequences.
  void absorb_queries(const float* q, std::span<const int64_t> tokens, float* q_absorbed) const;
  void attend_latent(const float* q_absorbed, const SequenceStep& seq, const PagedKvCache& cache,
                     float* latent_out) const;
  void expand_values(const float* latent_out, std::span<const int64_t> tokens, float* heads_out) const;

  const ModelConfig& c_;
  int layer_;
  MlaMode mode_;
  float scale_;
  WeightMatrix q_proj_;    // without q_lora
  WeightMatrix q_a_proj_;  // with q_lora
  std::vector<float> q_a_norm_;
  WeightMatrix q_b_proj_;
  WeightMatrix kv_a_proj_;  // hidden -> latent + rope key
  std::vector<float> kv_a_norm_;
  WeightMatrix kv_b_proj_;  // latent -> heads * (nope + v)
  WeightMatrix o_proj_;
};

}  // namespace tide
