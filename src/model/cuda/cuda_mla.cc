// MLA on the GPU (see cuda_deepseek_model.h and model/deepseek/mla_attention.h):
//   [q_a | kv] or [q | kv] = one GEMM of h; q = q_b(norm(q_a)) with q_lora;
//   the cache entry = [kv_a_layernorm(kv's latent) | rope(kv's key)], written in one pass;
//   then per run of rows (Step::attention_runs), either
//   - absorbed (decode rows, short chunks): q_absorbed[t, h] = [q_nope[t, h] · W_UK[h] |
//     rope(q_rope[t, h])] (one batched GEMM over heads; rope writes its part), latent_out =
//     attention over the cache, heads_out[t, h] = latent_out[t, h] · W_UV[h]ᵀ; or
//   - expanded (a long prefill chunk): the sequence's context gathered from the cache and put
//     through kv_b_proj once ([k_nope | v] per head), heads_out = causal flash attention over it;
//   out = o_proj(heads_out).
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "model/cuda/cuda_deepseek_model.h"
#include "model/cuda/scratch.h"

namespace tide::cuda {

void DeepSeekCudaModel::attention(int layer, const GemvInput& h, const Step& step, DeviceKvCache& cache,
                                  bf16* out) const {
  const ModelConfig& c = config_;
  const MlaWeights& w = weights_.layers[layer].attention;
  const int64_t T = step.tokens, D = c.hidden_size, H = c.num_heads;
  const int64_t nope = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dk = nope + dr, dv = c.v_head_dim;
  const int64_t r = c.kv_lora_rank, E = r + dr;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // One GEMM for both projections of h: [q part | kv part] per token, `width` apart.
  const int64_t q_part = c.q_lora_rank > 0 ? c.q_lora_rank : H * dk, width = q_part + E;
  bf16* projected = scratch_.get(kv_, T * width);
  if (h.norm_weight)
    gemv_nt(h, T, w.q_and_kv_a.data.data(), width, D, projected, stream_);
  else
    gemm_.bf16_nt(h.x, T, w.q_and_kv_a.data.data(), width, D, projected, stream_);
  bf16* kv = projected + q_part;
  bf16* q = projected;
  int64_t q_stride = width;
  if (c.q_lora_rank > 0) {
    bf16* qa = scratch_.get(lora_, T * c.q_lora_rank);
    rms_norm_strided(projected, width, T, c.q_lora_rank, w.q_a_norm.data(), eps, qa, c.q_lora_rank, stream_);
    q = scratch_.get(q_, T * H * dk);
    q_stride = H * dk;
    gemm_.bf16_nt(qa, T, w.q_b_proj.data.data(), H * dk, c.q_lora_rank, q, stream_);
  }

  // The query's rotated rope part goes straight into its absorbed row [latent part | rope part],
  // in the launch that writes the new tokens' cache entries.
  bf16* q_absorbed = scratch_.get(q_absorbed_, T * H * E);
  RopeArgs rope{.x = q, .tokens = T, .token_stride = q_stride, .heads = static_cast<int>(H), .head_stride = dk,
                .rope_offset = static_cast<int>(nope), .rope_dim = static_cast<int>(dr), .positions = step.positions,
                .cos = rope_cos_.data(), .sin = rope_sin_.data(), .interleaved = c.rope_interleaved,
                .out = q_absorbed, .out_token_stride = H * E, .out_head_stride = E, .out_offset = static_cast<int>(r)};
  bf16* cache_layer = cache.layer(layer);
  write_latent_cache({.kv = kv, .kv_stride = width, .tokens = T, .latent_dim = static_cast<int>(r),
                      .rope_dim = static_cast<int>(dr), .norm_weight = w.kv_a_norm.data(), .eps = eps,
                      .positions = step.positions, .cos = rope_cos_.data(), .sin = rope_sin_.data(),
                      .interleaved = c.rope_interleaved, .slots = step.slots, .cache = cache_layer,
                      .query = rope},
                     stream_);

  bf16* heads_out = scratch_.get(heads_out_, T * H * dv);
  for (const Step::AttentionRun& run : step.attention_runs) {
    if (run.expanded)
      attend_expanded(layer, step, run, q, q_stride, q_absorbed, cache_layer, cache.block_size(), heads_out);
    else
      attend_absorbed(layer, step, run, q, q_stride, q_absorbed, cache_layer, cache.block_size(), heads_out);
  }
  gemm_.bf16_nt(heads_out, T, w.o_proj.data.data(), D, H * dv, out, stream_);
}

bool DeepSeekCudaModel::expanded_prefill_supported() const {
  const ModelConfig& c = config_;
  return c.kv_lora_rank == kMlaLatentDim && c.qk_rope_head_dim == kMlaRopeDim &&
         c.qk_nope_head_dim == kMlaPrefillNopeDim && c.v_head_dim == kMlaPrefillValueDim;
}

void DeepSeekCudaModel::attend_absorbed(int layer, const Step& step, const Step::AttentionRun& run, const bf16* q,
                                        int64_t q_stride, bf16* q_absorbed, const bf16* cache_layer, int block_size,
                                        bf16* heads_out) const {
  const ModelConfig& c = config_;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, dk = nope + c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t r = c.kv_lora_rank, E = r + c.qk_rope_head_dim, first = run.first_row, n = run.rows;
  const bf16* kv_b = weights_.layers[layer].attention.kv_b_proj.data.data();

  // W_UK[h] is rows [h*(nope+dv), +nope) of kv_b_proj: [nope, r], so q_nope · W_UK[h] is "x · W".
  bf16* absorbed = q_absorbed + first * H * E;
  gemm_.bf16_batched({.x = q + first * q_stride, .x_ld = q_stride, .x_batch_stride = dk,
                      .w = kv_b, .w_ld = r, .w_batch_stride = (nope + dv) * r, .w_transposed = false,
                      .y = absorbed, .y_ld = H * E, .y_batch_stride = E,
                      .n = n, .out = r, .in = nope, .batch = static_cast<int>(H)},
                     stream_);

  bf16* latent_out = scratch_.get(latent_out_, step.tokens * H * r) + first * H * r;
  const int32_t* tables = step.block_tables + first * step.table_stride;
  const int32_t* context_lens = step.context_lens + first;
  if (r == kMlaLatentDim && c.qk_rope_head_dim == kMlaRopeDim) {
    const MlaDecodeArgs args{.q = absorbed, .cache = cache_layer, .block_tables = tables,
                             .block_table_stride = step.table_stride, .context_lens = context_lens,
                             .batch = static_cast<int>(n), .heads = static_cast<int>(H), .block_size = block_size,
                             .max_context = step.max_context, .scale = softmax_scale_, .out = latent_out};
    const MlaDecodePlan plan = plan_mla_decode(args, sm_count_);
    const std::size_t bytes = mla_decode_workspace_bytes(args, plan);
    unsigned char* workspace = scratch_.get(attention_workspace_, bytes);
    mla_decode(args, plan, workspace, attention_workspace_.bytes(), stream_);
  } else {
    latent_attention({.q = absorbed, .cache = cache_layer, .block_tables = tables,
                      .block_table_stride = step.table_stride, .context_lens = context_lens,
                      .rows = static_cast<int>(n), .heads = static_cast<int>(H), .entry_dim = static_cast<int>(E),
                      .value_dim = static_cast<int>(r), .block_size = block_size, .scale = softmax_scale_,
                      .out = latent_out},
                     stream_);
  }

  // W_UV[h] is the next dv rows: [dv, r], so latent · W_UV[h]ᵀ.
  gemm_.bf16_batched({.x = latent_out, .x_ld = H * r, .x_batch_stride = r,
                      .w = kv_b + nope * r, .w_ld = r, .w_batch_stride = (nope + dv) * r, .w_transposed = true,
                      .y = heads_out + first * H * dv, .y_ld = H * dv, .y_batch_stride = dv,
                      .n = n, .out = dv, .in = r, .batch = static_cast<int>(H)},
                     stream_);
}

void DeepSeekCudaModel::attend_expanded(int layer, const Step& step, const Step::AttentionRun& run, const bf16* q,
                                        int64_t q_stride, const bf16* q_absorbed, const bf16* cache_layer,
                                        int block_size, bf16* heads_out) const {
  const ModelConfig& c = config_;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, dk = nope + c.qk_rope_head_dim, dv = c.v_head_dim;
  const int64_t r = c.kv_lora_rank, E = r + c.qk_rope_head_dim, first = run.first_row;
  const int64_t longest = step.max_expanded_context;  // every run's buffers at one size: no growth mid-step
  bf16* latent = scratch_.get(context_latent_, longest * r);
  bf16* rope = scratch_.get(context_rope_, longest * c.qk_rope_head_dim);
  bf16* kv = scratch_.get(context_kv_, longest * H * (nope + dv));

  gather_latent_context({.cache = cache_layer, .block_table = step.block_tables + first * step.table_stride,
                         .block_size = block_size, .context = run.context, .latent = latent, .rope = rope},
                        stream_);
  // Per head [k_nope | v] of every context position, in one GEMM through kv_b_proj.
  gemm_.bf16_nt(latent, run.context, weights_.layers[layer].attention.kv_b_proj.data.data(), H * (nope + dv), r, kv,
                stream_);
  // The query's nope part from the projection; its rotated rope part, as write_latent_cache left
  // it, at the end of each head's absorbed row.
  mla_prefill({.q_nope = q + first * q_stride, .q_nope_stride = q_stride, .q_nope_head_stride = dk,
               .q_rope = q_absorbed + first * H * E + r, .q_rope_stride = H * E, .q_rope_head_stride = E,
               .kv = kv, .k_rope = rope, .rows = static_cast<int>(run.rows), .context = run.context,
               .heads = static_cast<int>(H), .scale = softmax_scale_, .out = heads_out + first * H * dv,
               .out_stride = H * dv, .out_head_stride = dv},
              stream_);
}

}  // namespace tide::cuda
