#include "model/deepseek/mla_attention.h"

#include <fmt/format.h>

#include <vector>

#include "backend/cpu/ops.h"

namespace tide {

MlaAttention::MlaAttention(WeightLoader& loader, const ModelConfig& c, int layer)
    : c_(c), layer_(layer), scale_(mla_softmax_scale(c)) {
  const std::string p = fmt::format("model.layers.{}.self_attn.", layer);
  const int64_t H = c.num_heads, D = c.hidden_size, dk = c.qk_head_dim();
  if (c.q_lora_rank > 0) {
    q_a_proj_ = loader.matrix(p + "q_a_proj.weight", c.q_lora_rank, D);
    q_a_norm_ = loader.vector(p + "q_a_layernorm.weight", c.q_lora_rank);
    q_b_proj_ = loader.matrix(p + "q_b_proj.weight", H * dk, c.q_lora_rank);
  } else {
    q_proj_ = loader.matrix(p + "q_proj.weight", H * dk, D);
  }
  kv_a_proj_ = loader.matrix(p + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, D);
  kv_a_norm_ = loader.vector(p + "kv_a_layernorm.weight", c.kv_lora_rank);
  kv_b_proj_ = loader.matrix(p + "kv_b_proj.weight", H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  o_proj_ = loader.matrix(p + "o_proj.weight", D, H * c.v_head_dim);
}

void MlaAttention::project(const float* h, int64_t T, float* q, float* kv) const {
  if (c_.q_lora_rank > 0) {
    std::vector<float> qa(T * c_.q_lora_rank);
    cpu::matmul(h, T, q_a_proj_, qa.data());
    cpu::rms_norm(qa.data(), T, c_.q_lora_rank, q_a_norm_.data(), c_.rms_norm_eps, qa.data());
    cpu::matmul(qa.data(), T, q_b_proj_, q);
  } else {
    cpu::matmul(h, T, q_proj_, q);
  }
  cpu::matmul(h, T, kv_a_proj_, kv);
}

void MlaAttention::write_cache(float* q, float* kv, const Batch& batch, const BatchLayout& layout,
                               const RotaryEmbedding& rope, PagedKvCache& cache) const {
  const int64_t H = c_.num_heads, dk = c_.qk_head_dim(), nope = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim;
  const int64_t r = c_.kv_lora_rank, entry = r + dr;
  std::vector<float> cos(dr / 2), sin(dr / 2);
  for_each_new_token(batch, layout, [&](int64_t t, const SequenceStep& seq, int64_t position) {
    rope.cos_sin(position, cos.data(), sin.data());
    for (int64_t head = 0; head < H; ++head)
      cpu::apply_rope(q + (t * H + head) * dk + nope, dr, cos.data(), sin.data(), rope.interleaved());
    float* kv_t = kv + t * entry;
    cpu::rms_norm(kv_t, 1, r, kv_a_norm_.data(), c_.rms_norm_eps, kv_t);
    cpu::apply_rope(kv_t + r, dr, cos.data(), sin.data(), rope.interleaved());
    std::copy_n(kv_t, entry, cache.slot(layer_, seq.block_table, position));
  });
}

void MlaAttention::attend_expanded(const float* q, const SequenceStep& seq, const PagedKvCache& cache,
                                   float* heads_out) const {
  const int64_t H = c_.num_heads, nope = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dv = c_.v_head_dim;
  const int64_t dk = nope + dr, r = c_.kv_lora_rank, entry = r + dr;
  const int64_t ctx = seq.start_position + seq.num_tokens;

  std::vector<float> cached(ctx * entry);
  cache.gather(layer_, seq.block_table, ctx, cached.data());
  std::vector<float> latent(ctx * r);
  for (int64_t j = 0; j < ctx; ++j) std::copy_n(cached.data() + j * entry, r, latent.data() + j * r);
  std::vector<float> kv(ctx * H * (nope + dv));
  cpu::matmul(latent.data(), ctx, kv_b_proj_, kv.data());

  // Per-head keys [k_nope | shared k_rope] and values, contiguous for the kernel.
  std::vector<float> k(ctx * H * dk), v(ctx * H * dv);
  for (int64_t j = 0; j < ctx; ++j)
    for (int64_t head = 0; head < H; ++head) {
      const float* src = kv.data() + (j * H + head) * (nope + dv);
      float* kd = k.data() + (j * H + head) * dk;
      std::copy_n(src, nope, kd);
      std::copy_n(cached.data() + j * entry + r, dr, kd + nope);
      std::copy_n(src + nope, dv, v.data() + (j * H + head) * dv);
    }
  cpu::attention({.q = q, .k = k.data(), .v = v.data(), .out = heads_out,
                  .q_tokens = seq.num_tokens, .q_start = seq.start_position, .ctx_len = ctx,
                  .num_heads = H, .num_kv_heads = H, .qk_dim = dk, .v_dim = dv,
                  .k_stride = H * dk, .v_stride = H * dv, .scale = scale_});
}

void MlaAttention::absorb_queries(const float* q, int64_t first, int64_t n, float* q_absorbed) const {
  const int64_t H = c_.num_heads, nope = c_.qk_nope_head_dim, dr = c_.qk_rope_head_dim, dv = c_.v_head_dim;
  const int64_t dk = nope + dr, r = c_.kv_lora_rank, entry = r + dr;
  // kv_b_proj rows [h*(nope+dv), +nope) map the latent to head h's k_nope (W_UK), so
  // q_nope · k_nope = (W_UKᵀ q_nope) · latent. Each weight row is read once for all tokens.
#pragma omp parallel
  {
    std::vector<float> w(r);
#pragma omp for schedule(static)
    for (int64_t head = 0; head < H; ++head) {
      for (int64_t i = 0; i < n; ++i) {
        float* dst = q_absorbed + (i * H + head) * entry;
        std::fill(dst, dst + r, 0.f);
        std::copy_n(q + ((first + i) * H + head) * dk + nope, dr, dst + r);
      }
      for (int64_t d = 0; d < nope; ++d) {
        kv_b_proj_.row_to_f32(head * (nope + dv) + d, w.data());
        for (int64_t i = 0; i < n; ++i) {
          const float qd = q[((first + i) * H + head) * dk + d];
          float* dst = q_absorbed + (i * H + head) * entry;
#pragma omp simd
          for (int64_t c = 0; c < r; ++c) dst[c] += qd * w[c];
        }
      }
    }
  }
}

void MlaAttention::expand_values(const float* latent_out, int64_t first, int64_t n, float* heads_out) const {
  const int64_t H = c_.num_heads, nope = c_.qk_nope_head_dim, dv = c_.v_head_dim, r = c_.kv_lora_rank;
  // The next dv rows of head h (W_UV) map the attended latent to head h's value output.
#pragma omp parallel
  {
    std::vector<float> w(r);
#pragma omp for schedule(static)
    for (int64_t head = 0; head < H; ++head)
      for (int64_t d = 0; d < dv; ++d) {
        kv_b_proj_.row_to_f32(head * (nope + dv) + nope + d, w.data());
        for (int64_t i = 0; i < n; ++i) {
          const float* lat = latent_out + (i * H + head) * r;
          float acc = 0.f;
#pragma omp simd reduction(+ : acc)
          for (int64_t c = 0; c < r; ++c) acc += lat[c] * w[c];
          heads_out[((first + i) * H + head) * dv + d] = acc;
        }
      }
  }
}

void MlaAttention::attend_latent(const float* q_absorbed, const SequenceStep& seq, const PagedKvCache& cache,
                                 float* latent_out) const {
  const int64_t r = c_.kv_lora_rank, entry = r + c_.qk_rope_head_dim;
  const int64_t ctx = seq.start_position + seq.num_tokens;
  std::vector<float> cached(ctx * entry);
  cache.gather(layer_, seq.block_table, ctx, cached.data());
  // Multi-query attention over the cache itself: key = [latent | rope key], value = latent.
  cpu::attention({.q = q_absorbed, .k = cached.data(), .v = cached.data(), .out = latent_out,
                  .q_tokens = seq.num_tokens, .q_start = seq.start_position, .ctx_len = ctx,
                  .num_heads = c_.num_heads, .num_kv_heads = 1, .qk_dim = entry, .v_dim = r,
                  .k_stride = entry, .v_stride = entry, .scale = scale_});
}

void MlaAttention::project_output(const float* heads_out, int64_t tokens, float* out) const {
  cpu::matmul(heads_out, tokens, o_proj_, out);
}

}  // namespace tide
