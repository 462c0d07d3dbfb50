#pragma once
// DeepSeek's forward pass (V2, V2-Lite, V3, R1), written once over a backend's op set and run
// by the CPU backend (model/deepseek/deepseek_model.cc, float32) and the CUDA backend
// (model/cuda/cuda_deepseek_ops.h, bf16). The decoder skeleton is decoder_forward's; this fills
// in its blocks.
//
// Attention is MLA (DeepSeek-V2 §2.1). Per layer:
//   project_attention_inputs  q (through q_a, its norm and q_b where the model has q_lora) and
//                             the kv_a row [latent | rope key] of every new token
//   write_latent_cache        the latent normalised, the keys' and queries' rope parts rotated,
//                             each new token's entry stored in the paged cache
//   per run (attention_runs.h), absorbed:
//     absorb_queries          q_nope · W_UK per head, beside the rotated rope part
//     attend_latent           multi-query attention over the latent cache
//     expand_values           the attended latents · W_UVᵀ per head
//   or expanded:
//     attend_expanded         the context through kv_b_proj once, then causal attention
//   project_attention_output  o_proj: the block's output
// The feed-forward is a dense SwiGLU MLP in the first first_k_dense_replace layers, DeepSeekMoE
// after (V2 §2.2, V3 §2.1.2): route (the router and its top-k of every variant), then experts
// (the routed experts weighted by the router, plus the shared ones).
//
// Ops provides decoder_forward's ops and the ones named above; Ops::Normed is what norm()
// returns, Ops::Routes what route() returns, Ops::Projection what project_attention_inputs
// returns.
#include "model/config.h"
#include "model/decoder_forward.h"
#include "model/attention_runs.h"

namespace tide {

template <class Ops>
void mla_attention(Ops& ops, int layer, const typename Ops::Normed& h) {
  const typename Ops::Projection projection = ops.project_attention_inputs(layer, h);
  ops.write_latent_cache(layer, projection);
  for (const AttentionRun& run : ops.mla_runs()) {
    if (run.whole_chunk) {
      ops.attend_expanded(layer, projection, run);
      continue;
    }
    ops.absorb_queries(layer, projection, run);
    ops.attend_latent(layer, run);
    ops.expand_values(layer, run);
  }
  ops.project_attention_output(layer);
}

template <class Ops>
void deepseek_feed_forward(Ops& ops, const ModelConfig& config, int layer, const typename Ops::Normed& h) {
  if (!config.is_moe_layer(layer)) {
    ops.dense_mlp(layer, h);
    return;
  }
  ops.experts(layer, h, ops.route(layer, h));
}

template <class Ops>
auto deepseek_forward(Ops& ops, const ModelConfig& config) {
  return decoder_forward(
      ops, config.num_layers, [&](int layer, const typename Ops::Normed& h) { mla_attention(ops, layer, h); },
      [&](int layer, const typename Ops::Normed& h) { deepseek_feed_forward(ops, config, layer, h); });
}

}  // namespace tide
