#include "model/llama/llama_model.h"

#include <fmt/format.h>

#include <cmath>

#include "backend/cpu/ops.h"
#include "model/cpu_decoder_ops.h"
#include "model/llama/forward_pass.h"

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

// llama/forward_pass.h's ops over float32 rows: the step's q, k, v and attention outputs are the
// ops' own buffers.
class LlamaModel::CpuOps : public CpuDecoderOps {
 public:
  struct Projection {
    float* q;  // [T, heads, head_dim]
    float* k;  // [T, kv_heads, head_dim]
    float* v;  // [T, kv_heads, head_dim]
  };

  CpuOps(const LlamaModel& model, const Batch& batch, PagedKvCache& cache)
      : CpuDecoderOps(model.decoder_weights(), model.config_, batch),
        model_(model),
        cache_(cache),
        q_(tokens_ * config_.num_heads * config_.head_dim),
        k_(tokens_ * config_.num_kv_heads * config_.head_dim),
        v_(k_.size()),
        heads_out_(q_.size()) {}

  Projection project_attention_inputs(int layer, Normed h) {
    const AttentionWeights& w = model_.attn_[layer];
    auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    cpu::matmul(h, tokens_, w.q, q_.data(), bias(w.q_bias));
    cpu::matmul(h, tokens_, w.k, k_.data(), bias(w.k_bias));
    cpu::matmul(h, tokens_, w.v, v_.data(), bias(w.v_bias));
    return {q_.data(), k_.data(), v_.data()};
  }

  void write_kv_cache(int layer, const Projection& p) {
    const int64_t hd = config_.head_dim, H = config_.num_heads, KVH = config_.num_kv_heads, kv_dim = KVH * hd;
    const RotaryEmbedding& rope = model_.rope_;
    std::vector<float> cos(hd / 2), sin(hd / 2);
    for_each_new_token(batch_, layout_, [&](int64_t t, const SequenceStep& seq, int64_t position) {
      rope.cos_sin(position, cos.data(), sin.data());
      for (int64_t head = 0; head < H; ++head)
        cpu::apply_rope(p.q + (t * H + head) * hd, hd, cos.data(), sin.data(), rope.interleaved());
      for (int64_t head = 0; head < KVH; ++head)
        cpu::apply_rope(p.k + (t * KVH + head) * hd, hd, cos.data(), sin.data(), rope.interleaved());
      float* entry = cache_.slot(layer, seq.block_table, position);
      std::copy_n(p.k + t * kv_dim, kv_dim, entry);
      std::copy_n(p.v + t * kv_dim, kv_dim, entry + kv_dim);
    });
  }

  void attend(int layer, const Projection& p) {
    const int64_t hd = config_.head_dim, H = config_.num_heads, KVH = config_.num_kv_heads, kv_dim = KVH * hd;
    const float scale = 1.f / std::sqrt(static_cast<float>(hd));
    std::vector<float> cached;
    for (std::size_t s = 0; s < batch_.sequences.size(); ++s) {
      const SequenceStep& seq = batch_.sequences[s];
      const int64_t t0 = layout_.token_offset[s], ctx = seq.start_position + seq.num_tokens;
      cached.resize(ctx * 2 * kv_dim);
      cache_.gather(layer, seq.block_table, ctx, cached.data());
      cpu::attention({.q = p.q + t0 * H * hd, .k = cached.data(), .v = cached.data() + kv_dim,
                      .out = heads_out_.data() + t0 * H * hd,
                      .q_tokens = seq.num_tokens, .q_start = seq.start_position, .ctx_len = ctx,
                      .num_heads = H, .num_kv_heads = KVH, .qk_dim = hd, .v_dim = hd,
                      .k_stride = 2 * kv_dim, .v_stride = 2 * kv_dim, .scale = scale});
    }
  }

  void project_attention_output(int layer) {
    cpu::matmul(heads_out_.data(), tokens_, model_.attn_[layer].o, block_output());
  }

  void mlp(int layer, Normed h) { model_.mlp_[layer].forward(h, tokens_, block_output()); }

 private:
  const LlamaModel& model_;
  PagedKvCache& cache_;
  std::vector<float> q_, k_, v_, heads_out_;
};

std::vector<float> LlamaModel::run_forward(const Batch& batch, PagedKvCache& cache) const {
  CpuOps ops(*this, batch, cache);
  return llama_forward(ops, config_);
}

}  // namespace tide
