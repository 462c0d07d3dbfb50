#pragma once
// Multi-head latent attention (DeepSeek-V2 §2.1). Keys and values are compressed into a
// kv_lora_rank latent plus one rope key shared by all heads; the cache holds only those
// (576 floats per token per layer for V2/V3).
//  - Expanded form (prefill): up-project every cached latent through kv_b_proj into per-head
//    keys and values, then ordinary attention. Cheap when many queries share the expansion.
//  - Absorbed form (decode): fold kv_b_proj's key half into the query and its value half into
//    the output, and attend directly over the latent cache, as multi-query attention with
//    head size kv_lora_rank + rope. No per-token expansion at all.
#include <string>

#include "model/batch.h"
#include "model/config.h"
#include "model/batch_layout.h"
#include "tensor/paged_kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace tide {

// The CPU backend's MLA ops (forward_pass.h names them and their order), over float32 rows.
class MlaAttention {
 public:
  MlaAttention(WeightLoader& loader, const ModelConfig& config, int layer);

  // q[T, heads, nope + rope] and kv[T, latent + rope] of the normed rows h[T, hidden].
  void project(const float* h, int64_t tokens, float* q, float* kv) const;
  // Normalises each new token's latent, rotates its key and its query heads' rope parts (q and kv
  // in place), and stores its cache entry.
  void write_cache(float* q, float* kv, const Batch& batch, const BatchLayout& layout, const RotaryEmbedding& rope,
                   PagedKvCache& cache) const;
  // q_absorbed [n, heads, latent + rope] for rows first..first+n of q: q_nope folded through W_UK
  // beside the rotated rope part.
  void absorb_queries(const float* q, int64_t first, int64_t n, float* q_absorbed) const;
  // latent_out[seq tokens, heads, latent] = attention of the sequence's absorbed queries over its
  // latent cache (multi-query: key [latent | rope key], value the latent).
  void attend_latent(const float* q_absorbed, const SequenceStep& seq, const PagedKvCache& cache,
                     float* latent_out) const;
  // Rows first..first+n of heads_out [T, heads, v] = latent_out [n, heads, latent] · W_UVᵀ per head.
  void expand_values(const float* latent_out, int64_t first, int64_t n, float* heads_out) const;
  // The sequence's rows of heads_out from its queries q: its context through kv_b_proj into
  // per-head keys and values, then causal attention.
  void attend_expanded(const float* q, const SequenceStep& seq, const PagedKvCache& cache, float* heads_out) const;
  // out[T, hidden] = o_proj(heads_out).
  void project_output(const float* heads_out, int64_t tokens, float* out) const;

 private:
  const ModelConfig& c_;
  int layer_;
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
