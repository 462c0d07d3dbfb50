#include "model/deepseek/deepseek_model.h"

#include <fmt/format.h>

#include "model/cpu_decoder_ops.h"
#include "model/deepseek/forward_pass.h"

namespace tide {

// forward_pass.h's ops over float32 rows: a step's queries, kv rows and attention outputs are
// the ops' own buffers; the absorbed form's per-run rows are sized by the run.
class DeepSeekModel::CpuOps : public CpuDecoderOps {
 public:
  struct Projection {
    float* q;   // [T, heads, nope + rope]
    float* kv;  // [T, latent + rope]
  };
  using Routes = MoeBlock::Routes;

  CpuOps(const DeepSeekModel& model, const Batch& batch, PagedKvCache& cache)
      : CpuDecoderOps(model.decoder_weights(), model.config_, batch),
        model_(model),
        cache_(cache),
        q_(tokens_ * config_.num_heads * config_.qk_head_dim()),
        kv_(tokens_ * config_.kv_entry_dim()),
        heads_out_(tokens_ * config_.num_heads * config_.v_head_dim),
        runs_(plan_attention_runs(batch, layout_, [mode = model.mla_mode_](const SequenceStep& seq) {
          return mode == MlaMode::Expanded || (mode == MlaMode::Auto && seq.num_tokens > 1);
        })) {}

  const std::vector<AttentionRun>& mla_runs() const { return runs_; }

  Projection project_attention_inputs(int layer, Normed h) {
    model_.attention_[layer].project(h, tokens_, q_.data(), kv_.data());
    return {q_.data(), kv_.data()};
  }
  void write_latent_cache(int layer, const Projection& p) {
    model_.attention_[layer].write_cache(p.q, p.kv, batch_, layout_, model_.rope_, cache_);
  }
  void absorb_queries(int layer, const Projection& p, const AttentionRun& run) {
    const int64_t H = config_.num_heads, r = config_.kv_lora_rank;
    q_absorbed_.resize(run.rows * H * (r + config_.qk_rope_head_dim));
    model_.attention_[layer].absorb_queries(p.q, run.first_row, run.rows, q_absorbed_.data());
  }
  void attend_latent(int layer, const AttentionRun& run) {
    const int64_t H = config_.num_heads, r = config_.kv_lora_rank, entry = r + config_.qk_rope_head_dim;
    latent_out_.resize(run.rows * H * r);
    for (int s = run.first_sequence; s < run.first_sequence + run.sequences; ++s) {
      const int64_t row = layout_.token_offset[s] - run.first_row;
      model_.attention_[layer].attend_latent(q_absorbed_.data() + row * H * entry, batch_.sequences[s], cache_,
                                             latent_out_.data() + row * H * r);
    }
  }
  void expand_values(int layer, const AttentionRun& run) {
    model_.attention_[layer].expand_values(latent_out_.data(), run.first_row, run.rows, heads_out_.data());
  }
  void attend_expanded(int layer, const Projection& p, const AttentionRun& run) {
    const int64_t row = run.first_row, H = config_.num_heads;
    model_.attention_[layer].attend_expanded(p.q + row * H * config_.qk_head_dim(),
                                             batch_.sequences[run.first_sequence], cache_,
                                             heads_out_.data() + row * H * config_.v_head_dim);
  }
  void project_attention_output(int layer) {
    model_.attention_[layer].project_output(heads_out_.data(), tokens_, block_output());
  }

  void dense_mlp(int layer, Normed h) { model_.dense_[layer]->forward(h, tokens_, block_output()); }
  Routes route(int layer, Normed h) { return model_.moe_[layer]->route(h, tokens_); }
  void experts(int layer, Normed h, const Routes& routes) {
    model_.moe_[layer]->experts(h, tokens_, routes, block_output());
  }

 private:
  const DeepSeekModel& model_;
  PagedKvCache& cache_;
  std::vector<float> q_, kv_, heads_out_;
  std::vector<float> q_absorbed_, latent_out_;  // the absorbed run's rows
  const std::vector<AttentionRun> runs_;
};

DeepSeekModel::DeepSeekModel(ModelConfig config, Checkpoint checkpoint, const ModelOptions& options)
    : DecoderModel(std::move(config), std::move(checkpoint)),
      mla_mode_(options.mla_mode),
      rope_(config_, config_.qk_rope_head_dim) {
  WeightLoader loader(checkpoint_, config_, options.quantization);
  load_shared(loader);
  for (int l = 0; l < config_.num_layers; ++l) {
    attention_.emplace_back(loader, config_, l);
    if (config_.is_moe_layer(l)) {
      dense_.emplace_back();
      moe_.push_back(std::make_unique<MoeBlock>(loader, config_, l));
    } else {
      dense_.push_back(GatedMlp::load(loader, fmt::format("model.layers.{}.mlp", l), config_.hidden_size,
                                      config_.intermediate_size));
      moe_.push_back(nullptr);
    }
  }
  set_weight_bytes(loader.matrix_bytes());
}

std::vector<float> DeepSeekModel::run_forward(const Batch& batch, PagedKvCache& cache) const {
  CpuOps ops(*this, batch, cache);
  return deepseek_forward(ops, config_);
}

}  // namespace tide
