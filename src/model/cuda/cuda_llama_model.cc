#include "model/cuda/cuda_llama_model.h"

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "model/llama/forward_pass.h"
#include "model/rope.h"

namespace tide::cuda {

LlamaCudaModel::LlamaCudaModel(ModelConfig config, LlamaWeights weights)
    : CudaModelBase(std::move(config)), weights_(std::move(weights)) {
  const RotaryEmbedding rope(config_, config_.head_dim);
  upload_rope_tables(rope, rope_cos_, rope_sin_);
  rope_interleaved_ = rope.interleaved();
}

void LlamaCudaModel::plan_step(const Batch& batch, const BatchLayout& layout, Step& step) const {
  const bool flash = config_.head_dim == kGqaHeadDim;
  step.attention_runs = plan_attention_runs(
      batch, layout, [flash](const SequenceStep& seq) { return flash && seq.num_tokens >= kFlashPrefillRows; });
}

// llama/forward_pass.h's ops over one step's bf16 rows.
class LlamaCudaModel::StepOps : public CudaModelBase::DecoderOps {
 public:
  // The step's projected rows: [q | k | v] per token, `width` apart.
  struct Projection {
    bf16* qkv;
    int64_t width;
  };

  StepOps(const LlamaCudaModel& model, const Step& step, DeviceKvCache& cache)
      : DecoderOps(model, step), m_(model), c_(model.config_), cache_(cache) {}

  void embed() { embed_with(m_.weights_.embed); }
  Normed norm(int layer, LayerNorm which) {
    const LlamaLayerWeights& w = m_.weights_.layers[layer];
    return norm_with((which == LayerNorm::Input ? w.input_norm : w.post_attention_norm).data());
  }
  void logits() { logits_with(m_.weights_.final_norm.data(), m_.weights_.head()); }

  Projection project_attention_inputs(int layer, const Normed& h) {
    const LlamaLayerWeights& w = m_.weights_.layers[layer];
    const int64_t width = w.qkv.rows();
    bf16* qkv = m_.scratch_.get(m_.qkv_, row_capacity_ * width);
    m_.linear(w.qkv, {.x = h.x}, tokens_, qkv);
    if (w.qkv_bias.size()) add_bias_rows(qkv, tokens_, width, w.qkv_bias.data(), m_.stream_);
    return {.qkv = qkv, .width = width};
  }

  // q rotated into its own rows ([T, heads, head_dim], as the attention reads them), k in place,
  // then each token's [k | v] (adjacent in its projected row) into its cache slot.
  void write_kv_cache(int layer, const Projection& p) {
    const int64_t hd = c_.head_dim, q_dim = c_.num_heads * hd, kv_dim = c_.num_kv_heads * hd;
    q_ = m_.scratch_.get(m_.q_, tokens_ * q_dim);
    const RopeArgs rope{.x = p.qkv, .tokens = tokens_, .token_stride = p.width, .heads = c_.num_heads,
                        .head_stride = hd, .rope_offset = 0, .rope_dim = static_cast<int>(hd),
                        .positions = step_.positions, .cos = m_.rope_cos_.data(), .sin = m_.rope_sin_.data(),
                        .interleaved = m_.rope_interleaved_};
    RopeArgs q_rope = rope;
    q_rope.out = q_;
    q_rope.out_token_stride = q_dim;
    q_rope.out_head_stride = hd;
    apply_rope(q_rope, m_.stream_);
    RopeArgs k_rope = rope;
    k_rope.x = p.qkv + q_dim;
    k_rope.heads = c_.num_kv_heads;
    apply_rope(k_rope, m_.stream_);
    scatter_rows(p.qkv + q_dim, p.width, tokens_, 2 * kv_dim, step_.slots, cache_.layer(layer), 2 * kv_dim,
                 m_.stream_);
  }

  void attend(int layer, const Projection&) {
    const int64_t hd = c_.head_dim, kv_dim = c_.num_kv_heads * hd, row_width = c_.num_heads * hd;
    const float scale = 1.f / std::sqrt(static_cast<float>(hd));
    heads_out_ = m_.scratch_.get(m_.heads_out_, tokens_ * row_width);
    // head_dim 128: the flash prefill, and for groups of at most 16 heads the grouped decode
    // kernel; other rows through latent_attention's grouped form.
    const bool grouped_decode = hd == kGqaHeadDim && c_.num_heads / c_.num_kv_heads <= kMaxGqaGroup;
    for (const AttentionRun& run : step_.attention_runs) {
      const bf16* q = q_ + run.first_row * row_width;
      bf16* out = heads_out_ + run.first_row * row_width;
      const int32_t* tables = step_.block_tables + run.first_row * step_.table_stride;
      if (run.whole_chunk) {  // planned only at head_dim 128 (plan_step)
        gqa_prefill({.q = q, .cache = cache_.layer(layer), .block_table = tables, .block_size = cache_.block_size(),
                     .rows = static_cast<int>(run.rows), .context = run.context, .heads = c_.num_heads,
                     .kv_heads = c_.num_kv_heads, .scale = scale, .out = out},
                    m_.stream_);
        continue;
      }
      if (grouped_decode) {
        const GqaDecodeArgs args{.q = q, .cache = cache_.layer(layer), .block_tables = tables,
                                 .block_table_stride = step_.table_stride,
                                 .context_lens = step_.context_lens + run.first_row, .rows = static_cast<int>(run.rows),
                                 .heads = c_.num_heads, .kv_heads = c_.num_kv_heads, .block_size = cache_.block_size(),
                                 .max_context = step_.max_context, .scale = scale, .out = out,
                                 .counters = decode_counters(run.rows)};
        const std::size_t bytes = gqa_decode_workspace_bytes(args);
        gqa_decode(args, m_.scratch_.get(m_.attention_workspace_, bytes), bytes, m_.stream_);
        continue;
      }
      latent_attention({.q = q, .cache = cache_.layer(layer), .block_tables = tables,
                        .block_table_stride = step_.table_stride, .context_lens = step_.context_lens + run.first_row,
                        .rows = static_cast<int>(run.rows), .heads = c_.num_heads,
                        .entry_dim = static_cast<int>(2 * kv_dim), .value_dim = static_cast<int>(hd),
                        .block_size = cache_.block_size(), .scale = scale, .out = out, .kv_heads = c_.num_kv_heads,
                        .key_dim = static_cast<int>(hd), .value_offset = static_cast<int>(kv_dim)},
                       m_.stream_);
    }
  }

  void project_attention_output(int layer) {
    m_.linear(m_.weights_.layers[layer].o_proj, {.x = heads_out_}, tokens_, block_output());
  }

  void mlp(int layer, const Normed& h) {
    const GatedMlpWeights& w = m_.weights_.layers[layer].mlp;
    // At one or two tokens: gate_up and SiLU·mul in one launch (the MoE's, one slot), then down as
    // a GEMV, whose 8-feature blocks cover the GPU where the MoE's down (32 features a block for
    // one slot) leaves most of it idle on the R1-Distill widths.
    if (const std::optional<MoeGemv> d = tokens_ <= kGemvMaxRows ? m_.dense_decode_mlp(w, tokens_) : std::nullopt) {
      bf16* act = m_.scratch_.get(m_.activation_, tokens_ * d->inter);
      moe_gemv_gate_up(*d, h, act, m_.stream_);
      if (d->inter % 8 == 0)  // gemv_nt's 16-byte rows
        gemv_nt(act, tokens_, w.down.weight.data.data(), c_.hidden_size, d->inter, block_output(), m_.stream_);
      else
        moe_gemv_down(*d, act, block_output(), m_.stream_);
      return;
    }
    m_.mlp(w, h.x, tokens_, m_.scratch_.get(m_.gate_up_, row_capacity_ * 2 * w.intermediate()), block_output());
  }

 private:
  // gqa_decode's merge counters for `rows` rows, zeroed when their buffer is new (each launch
  // leaves them zero).
  unsigned* decode_counters(int64_t rows) {
    const uint64_t epoch = m_.scratch_.epoch();
    unsigned* counters = m_.scratch_.get(m_.decode_counters_, rows * c_.num_kv_heads);
    if (m_.scratch_.epoch() != epoch)
      TIDE_CUDA_CHECK(cudaMemsetAsync(counters, 0, m_.decode_counters_.bytes(), m_.stream_));
    return counters;
  }

  const LlamaCudaModel& m_;
  const ModelConfig& c_;
  DeviceKvCache& cache_;
  bf16* q_ = nullptr;          // [T, heads, head_dim], rotated
  bf16* heads_out_ = nullptr;  // [T, heads, head_dim]
};

void LlamaCudaModel::run_step(const Step& step, DeviceKvCache& cache) const {
  StepOps ops(*this, step, cache);
  llama_forward(ops, config_);
}

}  // namespace tide::cuda
