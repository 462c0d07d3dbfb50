#include "model/llama/llama_model.h"

#include <fmt/format.h>

#include <cmath>

#include "backend/cpu/ops.h"
#include "model/decoder_forward.h"

namespace tide {

LlamaModel::LlamaModel(ModelConfig config, Checkpoint checkpoint, const ModelOptions& options)
    : DecoderModel(std::move(config), std::move(checkpoint)), rope_(config_, config_.head_dim) {
  WeightLoader loader(checkpoint_, config_, options.quantization);
  load_shared(loader);
  const int64_t D = config_.hidden_size, hd = config_.head_dim;
  const int64_t q_dim = config_.num_heads * hd, kv_dim = config_.num_kv_heads * hd;
  for (int l = 0; l < config_.num_layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    AttentionWeights a{loader.matrix(p + "self_attn.q_proj.weight", q_dim, D),
                       loader.matrix(p + "self_attn.k_proj.weight", kv_dim, D),
                       loader.matrix(p + "self_attn.v_proj.weight", kv_dim, D),
                       loader.matrix(p + "self_attn.o_proj.weight", D, q_dim),
                       {}, {}, {}};
    if (config_.qkv_bias) {
      a.q_bias = loader.vector(p + "self_attn.q_proj.bias", q_dim);
      a.k_bias = loader.vector(p + "self_attn.k_proj.bias", kv_dim);
      a.v_bias = loader.vector(p + "self_attn.v_proj.bias", kv_dim);
    }
    attn_.push_back(std::move(a));
    mlp_.push_back(GatedMlp::load(loader, p + "mlp", D, config_.intermediate_size));
  }
  set_weight_bytes(loader.matrix_bytes());
}

void LlamaModel::attention(int layer, const float* h, const Batch& batch, const BatchLayout& layout,
                           PagedKvCache& cache, float* out) const {
  const AttentionWeights& w = attn_[layer];
  const int64_t T = static_cast<int64_t>(batch.tokens.size()), hd = config_.head_dim;
  const int64_t H = config_.num_heads, KVH = config_.num_kv_heads, kv_dim = KVH * hd;
  auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
  std::vector<float> q(T * H * hd), k(T * kv_dim), v(T * kv_dim);
  cpu::matmul(h, T, w.q, q.data(), bias(w.q_bias));
  cpu::matmul(h, T, w.k, k.data(), bias(w.k_bias));
  cpu::matmul(h, T, w.v, v.data(), bias(w.v_bias));

  // Rope, then append [K | V] of every new token to its sequence's cache.
  std::vector<float> cos(hd / 2), sin(hd / 2);
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    for (int64_t i = 0; i < seq.num_tokens; ++i) {
      const int64_t t = layout.token_offset[s] + i;
      rope_.cos_sin(seq.start_position + i, cos.data(), sin.data());
      for (int64_t head = 0; head < H; ++head)
        cpu::apply_rope(q.data() + (t * H + head) * hd, hd, cos.data(), sin.data(), rope_.interleaved());
      for (int64_t head = 0; head < KVH; ++head)
        cpu::apply_rope(k.data() + (t * KVH + head) * hd, hd, cos.data(), sin.data(), rope_.interleaved());
      float* entry = cache.slot(layer, seq.block_table, seq.start_position + i);
      std::copy_n(k.data() + t * kv_dim, kv_dim, entry);
      std::copy_n(v.data() + t * kv_dim, kv_dim, entry + kv_dim);
    }
  }

  std::vector<float> heads_out(T * H * hd), cached;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    const int64_t t0 = layout.token_offset[s], ctx = seq.start_position + seq.num_tokens;
    cached.resize(ctx * 2 * kv_dim);
    cache.gather(layer, seq.block_table, ctx, cached.data());
    cpu::attention({.q = q.data() + t0 * H * hd, .k = cached.data(), .v = cached.data() + kv_dim,
                    .out = heads_out.data() + t0 * H * hd,
                    .q_tokens = seq.num_tokens, .q_start = seq.start_position, .ctx_len = ctx,
                    .num_heads = H, .num_kv_heads = KVH, .qk_dim = hd, .v_dim = hd,
                    .k_stride = 2 * kv_dim, .v_stride = 2 * kv_dim, .scale = scale});
  }
  cpu::matmul(heads_out.data(), T, w.o, out);
}

std::vector<float> LlamaModel::run_forward(const Batch& batch, PagedKvCache& cache) const {
  CpuDecoderOps ops(decoder_weights(), config_, batch);
  return decoder_forward(
      ops, config_.num_layers,
      [&](int layer, const float* h) { attention(layer, h, batch, ops.layout(), cache, ops.block_output()); },
      [&](int layer, const float* h) { mlp_[layer].forward(h, ops.tokens(), ops.block_output()); });
}

}  // namespace tide
