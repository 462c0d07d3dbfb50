// MLA's ops on the GPU (forward_pass.h gives their order; cuda_deepseek_ops.h the fusions):
//   [q_a | kv] or [q | kv] = one GEMM of h (a GEMV normalising h as it reads, folded); q =
//   q_b(norm(q_a)) with q_lora;
//   the cache entry = [kv_a_layernorm(kv's latent) | rope(kv's key)], written in one launch that
//   also rotates the query's rope part into its absorbed row (and, at decode sizes with every row
//   absorbed and kv_b_proj in bf16, runs the absorption below);
//   then per run of rows (attention_runs.h), either
//   - absorbed (decode rows, short chunks): q_absorbed[t, h] = [q_nope[t, h] · W_UK[h] |
//     rope(q_rope[t, h])] (one batched product over heads), latent_out = attention over the cache
//     (mla_decode), heads_out[t, h] = latent_out[t, h] · W_UV[h]ᵀ (with kv_b_proj in fp8, both
//     products quantize their rows and run gemm_fp8_batched, the heads its batch); or
//   - expanded (a long prefill chunk): the sequence's context gathered from the cache and put
//     through kv_b_proj once ([k_nope | v] per head), heads_out = causal flash attention over it;
//   out = o_proj(heads_out).
#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "common/error.h"
#include "model/cuda/cuda_deepseek_ops.h"
#include "model/cuda/scratch.h"

namespace tide::cuda {

DeepSeekCudaModel::StepOps::Projection DeepSeekCudaModel::StepOps::project_attention_inputs(int layer,
                                                                                          const Normed& h) {
  const ModelConfig& c = m_.config_;
  const MlaWeights& w = m_.weights_.layers[layer].attention;
  const int64_t T = tokens_, H = c.num_heads, dk = c.qk_head_dim();
  // One product for both projections of h: [q part | kv part] per token, `width` apart (an fp8
  // matrix's padding rows after the kv part).
  const int64_t q_part = c.q_lora_rank > 0 ? c.q_lora_rank : H * dk, width = w.q_and_kv_a.rows();
  bf16* projected = m_.scratch_.get(m_.kv_, row_capacity_ * width);
  if (h.delta) fail("layer {}: MLA's projection cannot add a pending block output", layer);
  m_.linear(w.q_and_kv_a, h, T, projected);
  if (c.q_lora_rank == 0) return {.q = projected, .q_stride = width, .kv = projected + q_part, .kv_stride = width};
  bf16* qa = m_.scratch_.get(m_.lora_, T * c.q_lora_rank);
  rms_norm_strided(projected, width, T, c.q_lora_rank, w.q_a_norm.data(), eps_, qa, c.q_lora_rank, m_.stream_);
  const int64_t q_width = w.q_b_proj.rows();  // H * dk, and an fp8 matrix's padding
  bf16* q = m_.scratch_.get(m_.q_, row_capacity_ * q_width);
  m_.linear(w.q_b_proj, {.x = qa}, T, q);
  return {.q = q, .q_stride = q_width, .kv = projected + q_part, .kv_stride = width};
}

void DeepSeekCudaModel::StepOps::write_latent_cache(int layer, const Projection& p) {
  const ModelConfig& c = m_.config_;
  const MlaWeights& w = m_.weights_.layers[layer].attention;
  const int64_t T = tokens_, H = c.num_heads, nope = c.qk_nope_head_dim, dr = c.qk_rope_head_dim;
  const int64_t r = c.kv_lora_rank, E = r + dr;
  // The query's rotated rope part goes straight into its absorbed row [latent part | rope part],
  // in the launch that writes the new tokens' cache entries.
  q_absorbed_ = m_.scratch_.get(m_.q_absorbed_, T * H * E);
  heads_out_ = m_.scratch_.get(m_.heads_out_, T * H * c.v_head_dim);
  const RopeArgs rope{.x = p.q, .tokens = T, .token_stride = p.q_stride, .heads = static_cast<int>(H),
                      .head_stride = nope + dr, .rope_offset = static_cast<int>(nope), .rope_dim = static_cast<int>(dr),
                      .positions = step_.positions, .cos = m_.rope_cos_.data(), .sin = m_.rope_sin_.data(),
                      .interleaved = c.rope_interleaved, .out = q_absorbed_, .out_token_stride = H * E,
                      .out_head_stride = E, .out_offset = static_cast<int>(r)};
  const LatentCacheWrite write{.kv = p.kv, .kv_stride = p.kv_stride, .tokens = T, .latent_dim = static_cast<int>(r),
                               .rope_dim = static_cast<int>(dr), .norm_weight = w.kv_a_norm.data(), .eps = eps_,
                               .positions = step_.positions, .cos = m_.rope_cos_.data(), .sin = m_.rope_sin_.data(),
                               .interleaved = c.rope_interleaved, .slots = step_.slots, .cache = cache_.layer(layer),
                               .query = rope};
  // At decode sizes, every row absorbed: the absorption in this launch too, so that the attention
  // follows one launch after the projection, not two.
  const auto absorbed = [](const AttentionRun& run) { return !run.whole_chunk; };
  queries_absorbed_ = false;
  if (folded_ && !w.kv_b_proj.is_fp8() && std::all_of(mla_runs().begin(), mla_runs().end(), absorbed)) {
    const BatchedGemm absorb = absorption(layer, p, 0, T);
    if (gemv_batched_supported(absorb)) {
      write_latent_cache_and_absorb(write, absorb, m_.stream_);
      queries_absorbed_ = true;
      return;
    }
  }
  cuda::write_latent_cache(write, m_.stream_);
}

BatchedGemm DeepSeekCudaModel::StepOps::absorption(int layer, const Projection& p, int64_t first_row,
                                                   int64_t rows) const {
  const ModelConfig& c = m_.config_;
  const MlaWeights& w = m_.weights_.layers[layer].attention;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, dv = c.v_head_dim, r = c.kv_lora_rank;
  const int64_t E = r + c.qk_rope_head_dim;
  // W_UK[h] is rows [h*(nope+dv), +nope) of kv_b_proj: [nope, r], so q_nope · W_UK[h] is "x · W".
  return {.x = p.q + first_row * p.q_stride, .x_ld = p.q_stride, .x_batch_stride = c.qk_head_dim(),
          .w = w.kv_b_proj.weight.data.data(), .w_ld = r, .w_batch_stride = (nope + dv) * r, .w_transposed = false,
          .y = q_absorbed_ + first_row * H * E, .y_ld = H * E, .y_batch_stride = E, .n = rows, .out = r, .in = nope,
          .batch = static_cast<int>(H)};
}

void DeepSeekCudaModel::StepOps::absorb_queries(int layer, const Projection& p, const AttentionRun& run) {
  if (queries_absorbed_) return;
  const ModelConfig& c = m_.config_;
  const MlaWeights& w = m_.weights_.layers[layer].attention;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, r = c.kv_lora_rank;
  const int64_t E = r + c.qk_rope_head_dim, dk = c.qk_head_dim();
  bf16* absorbed = q_absorbed_ + run.first_row * H * E;
  if (w.kv_b_proj.is_fp8()) {
    // q_nope · W_UK[h] = q_nope · (W_UK[h]ᵀ)ᵀ.
    multiply_heads_fp8({.x = p.q + run.first_row * p.q_stride, .row_stride = dk, .group_rows = H,
                        .group_stride = p.q_stride},
                       run.rows,
                       {.w = w.keys_transposed.data.data(), .w_scales = w.keys_transposed.scales.data(),
                        .w_batch = r * nope, .w_scale_batch = (r / 128) * (nope / 128), .out = r, .in = nope,
                        .y = absorbed, .y_token_stride = H * E, .y_head_stride = E});
    return;
  }
  BatchedGemm absorb = absorption(layer, p, run.first_row, run.rows);
  absorb.x_ready_early = true;  // write_latent_cache sits between q's writer and this
  m_.gemm_.bf16_batched(absorb, m_.stream_);
}

void DeepSeekCudaModel::StepOps::attend_latent(int layer, const AttentionRun& run) {
  const ModelConfig& c = m_.config_;
  const int64_t H = c.num_heads, r = c.kv_lora_rank, E = r + c.qk_rope_head_dim, first = run.first_row;
  const bf16* absorbed = q_absorbed_ + first * H * E;
  bf16* latent_out = m_.scratch_.get(m_.latent_out_, tokens_ * H * r) + first * H * r;
  const int32_t* tables = step_.block_tables + first * step_.table_stride;
  const int32_t* context_lens = step_.context_lens + first;
  if (r == kMlaLatentDim && c.qk_rope_head_dim == kMlaRopeDim) {
    const MlaDecodeArgs args{.q = absorbed, .cache = cache_.layer(layer), .block_tables = tables,
                             .block_table_stride = step_.table_stride, .context_lens = context_lens,
                             .batch = static_cast<int>(run.rows), .heads = static_cast<int>(H),
                             .block_size = cache_.block_size(), .max_context = step_.max_context,
                             .scale = m_.softmax_scale_, .out = latent_out};
    const MlaDecodePlan plan = plan_mla_decode(args, m_.sm_count_);
    unsigned char* workspace = m_.scratch_.get(m_.attention_workspace_, mla_decode_workspace_bytes(args, plan));
    mla_decode(args, plan, workspace, m_.attention_workspace_.bytes(), m_.stream_);
    return;
  }
  latent_attention({.q = absorbed, .cache = cache_.layer(layer), .block_tables = tables,
                    .block_table_stride = step_.table_stride, .context_lens = context_lens,
                    .rows = static_cast<int>(run.rows), .heads = static_cast<int>(H), .entry_dim = static_cast<int>(E),
                    .value_dim = static_cast<int>(r), .block_size = cache_.block_size(), .scale = m_.softmax_scale_,
                    .out = latent_out},
                   m_.stream_);
}

void DeepSeekCudaModel::StepOps::expand_values(int layer, const AttentionRun& run) {
  const ModelConfig& c = m_.config_;
  const DeviceLinear& kv_b = m_.weights_.layers[layer].attention.kv_b_proj;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, dv = c.v_head_dim, r = c.kv_lora_rank;
  const bf16* latent_out = m_.scratch_.get(m_.latent_out_, tokens_ * H * r) + run.first_row * H * r;
  bf16* out = heads_out_ + run.first_row * H * dv;
  if (kv_b.is_fp8()) {
    // W_UV[h]: the dv rows (whole scale blocks) after W_UK[h] in kv_b_proj as stored.
    const int64_t scale_cols = r / 128;
    multiply_heads_fp8({.x = latent_out, .row_stride = r, .group_rows = H, .group_stride = H * r}, run.rows,
                       {.w = kv_b.fp8.data.data() + nope * r,
                        .w_scales = kv_b.fp8.scales.data() + (nope / 128) * scale_cols, .w_batch = (nope + dv) * r,
                        .w_scale_batch = ((nope + dv) / 128) * scale_cols, .out = dv, .in = r, .y = out,
                        .y_token_stride = H * dv, .y_head_stride = dv});
    return;
  }
  // W_UV[h] is the dv rows after W_UK[h]: [dv, r], so latent · W_UV[h]ᵀ.
  m_.gemm_.bf16_batched({.x = latent_out, .x_ld = H * r, .x_batch_stride = r, .w = kv_b.weight.data.data() + nope * r,
                         .w_ld = r, .w_batch_stride = (nope + dv) * r, .w_transposed = true, .y = out,
                         .y_ld = H * dv, .y_batch_stride = dv, .n = run.rows, .out = dv, .in = r,
                         .batch = static_cast<int>(H)},
                        m_.stream_);
}

void DeepSeekCudaModel::StepOps::multiply_heads_fp8(const QuantizeRows& x, int64_t tokens, const HeadsFp8& p) {
  const int64_t heads = x.group_rows, rows = tokens * heads;
  if (tokens <= kGemvMaxRows) {
    // Decode: one launch that quantizes each row as it reads it, instead of a quantizing launch
    // and a GEMM whose 64-row tile would hold one or two rows.
    gemv_fp8_batched({.x = x.x, .x_ld = x.group_stride, .x_batch_stride = x.row_stride, .w = p.w,
                      .w_scales = p.w_scales, .w_batch_stride = p.w_batch, .w_scale_batch_stride = p.w_scale_batch,
                      .y = p.y, .y_ld = p.y_token_stride, .y_batch_stride = p.y_head_stride, .rows = tokens,
                      .out = p.out, .in = p.in, .batch = static_cast<int>(heads)},
                     m_.stream_);
    return;
  }
  uint8_t* q = m_.scratch_.get(m_.fp8_rows_, rows * p.in);
  float* scales = m_.scratch_.get(m_.fp8_row_scales_, rows * p.in / 128);
  // Row t·heads + h holds (t, h): head h's rows lie `heads` rows apart, their scales likewise.
  quantize_fp8_blocks(x, rows, p.in, q, scales, rows, m_.stream_);
  gemm_fp8_batched({.x = q, .x_scales = scales, .x_ld = heads * p.in, .x_batch_stride = p.in, .x_scale_ld = heads,
                    .x_scale_block = rows, .x_scale_batch_stride = 1, .w = p.w, .w_scales = p.w_scales,
                    .w_batch_stride = p.w_batch, .w_scale_batch_stride = p.w_scale_batch, .y = p.y,
                    .y_ld = p.y_token_stride, .y_batch_stride = p.y_head_stride, .rows = tokens, .out = p.out,
                    .in = p.in, .batch = static_cast<int>(heads)},
                   m_.stream_);
}

void DeepSeekCudaModel::StepOps::attend_expanded(int layer, const Projection& p, const AttentionRun& run) {
  const ModelConfig& c = m_.config_;
  const int64_t H = c.num_heads, nope = c.qk_nope_head_dim, dv = c.v_head_dim, dr = c.qk_rope_head_dim;
  const int64_t r = c.kv_lora_rank, E = r + dr, first = run.first_row;
  const int64_t longest = step_.max_expanded_context;  // every run's buffers at one size: no growth mid-step
  bf16* latent = m_.scratch_.get(m_.context_latent_, longest * r);
  bf16* rope = m_.scratch_.get(m_.context_rope_, longest * dr);
  bf16* kv = m_.scratch_.get(m_.context_kv_, m_.padded_rows(longest) * H * (nope + dv));  // linear()'s rows

  gather_latent_context({.cache = cache_.layer(layer), .block_table = step_.block_tables + first * step_.table_stride,
                         .block_size = cache_.block_size(), .context = run.context, .latent = latent, .rope = rope},
                        m_.stream_);
  // Per head [k_nope | v] of every context position, in one GEMM through kv_b_proj.
  m_.linear(m_.weights_.layers[layer].attention.kv_b_proj, {.x = latent}, run.context, kv);
  // The query's nope part from the projection; its rotated rope part, as write_latent_cache left
  // it, at the end of each head's absorbed row.
  mla_prefill({.q_nope = p.q + first * p.q_stride, .q_nope_stride = p.q_stride, .q_nope_head_stride = nope + dr,
               .q_rope = q_absorbed_ + first * H * E + r, .q_rope_stride = H * E, .q_rope_head_stride = E,
               .kv = kv, .k_rope = rope, .rows = static_cast<int>(run.rows), .context = run.context,
               .heads = static_cast<int>(H), .scale = m_.softmax_scale_, .out = heads_out_ + first * H * dv,
               .out_stride = H * dv, .out_head_stride = dv},
              m_.stream_);
}

void DeepSeekCudaModel::StepOps::project_attention_output(int layer) {
  m_.linear(m_.weights_.layers[layer].attention.o_proj, {.x = heads_out_}, tokens_, block_output());
}

bool DeepSeekCudaModel::expanded_prefill_supported() const {
  const ModelConfig& c = config_;
  return c.kv_lora_rank == kMlaLatentDim && c.qk_rope_head_dim == kMlaRopeDim &&
         c.qk_nope_head_dim == kMlaPrefillNopeDim && c.v_head_dim == kMlaPrefillValueDim;
}

}  // namespace tide::cuda
