#pragma once
// The Llama / Qwen2 forward pass (the DeepSeek-R1-Distill models), written once over a
// backend's op set: decoder_forward's skeleton with grouped-query attention and a dense SwiGLU.
// Attention per layer:
//   project_attention_inputs  q [T, heads, head_dim], k and v [T, kv_heads, head_dim] of the normed
//                             rows (with Qwen2's q/k/v biases)
//   write_kv_cache            q and k rotated (neox rope, llama3 scaling where the config has it),
//                             each new token's [k | v] stored in the paged cache
//   attend                    causal attention of each sequence's queries over its cache, a kv
//                             head per group of heads
//   project_attention_output  o_proj: the block's output
// The feed-forward is `mlp` (SwiGLU), the block's output.
//
// Ops provides decoder_forward's ops and the ones named above; Ops::Projection is what
// project_attention_inputs returns.
#include "model/config.h"
#include "model/decoder_forward.h"

namespace tide {

template <class Ops>
void gqa_attention(Ops& ops, int layer, const typename Ops::Normed& h) {
  const typename Ops::Projection projection = ops.project_attention_inputs(layer, h);
  ops.write_kv_cache(layer, projection);
  ops.attend(layer, projection);
  ops.project_attention_output(layer);
}

template <class Ops>
auto llama_forward(Ops& ops, const ModelConfig& config) {
  return decoder_forward(
      ops, config.num_layers, [&](int layer, const typename Ops::Normed& h) { gqa_attention(ops, layer, h); },
      [&](int layer, const typename Ops::Normed& h) { ops.mlp(layer, h); });
}

}  // namespace tide
