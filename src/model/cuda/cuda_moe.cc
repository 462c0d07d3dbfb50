// DeepSeek's feed-forward on the GPU: a dense SwiGLU MLP in the first layers, MoE after.
// MoE step: router logits (fp32) → route_experts, then
//  - decode-sized steps (tokens × top_k <= kDeviceRoutedMoeRows): each (token, choice) row through its
//    expert with the GEMV kernels that read the expert id on the device;
//  - larger steps: group the assignments by expert → the gate_up GEMM of each expert over its
//    rows; one SiLU·mul over all rows; the down GEMMs, all reading the groups (and the tokens,
//    through permuted_token) on the device: moe_grouped_gemm while experts have few rows each
//    (reading the weights is the bound), moe_grouped_gemm_wide from kRowsPerExpertForWideGemm
//    rows an expert on average (long prefills, where the products are).
// Routed experts kept in fp8 (DeepSeek-V3's checkpoints) take the grouped path at every step size,
// in fp8 (moe_fp8). Either way the result is combined with the gate weights on top of the shared
// experts' output.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "model/cuda/cuda_deepseek_model.h"
#include "model/cuda/scratch.h"

namespace tide::cuda {

void DeepSeekCudaModel::feed_forward(int layer, const bf16* h, int64_t tokens, bf16* out) const {
  const DeepSeekLayerWeights& w = weights_.layers[layer];
  if (w.moe) {
    moe(*w.moe, h, tokens, out);
  } else {
    bf16* gate_up = scratch_.get(gate_up_, tokens * 2 * w.dense->intermediate());
    mlp(*w.dense, h, tokens, gate_up, out);
  }
}

void DeepSeekCudaModel::mlp(const GatedMlpWeights& w, const bf16* x, int64_t n, bf16* gate_up, bf16* out) const {
  const int64_t D = config_.hidden_size, I = w.intermediate();
  gemm_.bf16_nt(x, n, w.gate_up.data.data(), 2 * I, D, gate_up, stream_);
  bf16* act = scratch_.get(activation_, n * I);
  silu_mul(gate_up, n, I, act, stream_);
  gemm_.bf16_nt(act, n, w.down.data.data(), D, I, out, stream_);
}

void DeepSeekCudaModel::moe(const MoeWeights& w, const bf16* h, int64_t T, bf16* out) const {
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, I = c.moe_intermediate_size;
  const int E = c.n_routed_experts, k = c.num_experts_per_tok;
  const int64_t rows = T * k;

  float* logits = scratch_.get(router_logits_, T * E);
  gemm_.bf16_nt_f32(h, T, w.router.data.data(), E, D, logits, stream_);
  int32_t* ids = scratch_.get(route_ids_, rows);
  float* gate_weights = scratch_.get(route_weights_, rows);
  route_experts(logits, T, w.bias.size() ? w.bias.data() : nullptr, router_, ids, gate_weights, stream_);
  if (rows <= kDeviceRoutedMoeRows && !w.fp8()) {
    bf16* gate_up = scratch_.get(moe_gate_up_, rows * 2 * I);
    bf16* y = scratch_.get(moe_out_, rows * D);
    moe_gate_up_gemv(h, T, k, ids, w.gate_up_by_expert.data(), I, D, gate_up, stream_);
    moe_down_gemv(gate_up, T, k, ids, w.down_by_expert.data(), D, I, y, stream_);
    if (w.shared) mlp(*w.shared, h, T, scratch_.get(gate_up_, T * 2 * w.shared->intermediate()), out);
    moe_combine(y, nullptr, gate_weights, T, k, D, w.shared ? out : nullptr, out, stream_);
    return;
  }

  int32_t* counts = scratch_.get(expert_counts_, E);
  int32_t* offsets = scratch_.get(expert_offsets_, E);
  int32_t* permuted_token = scratch_.get(permuted_token_, rows);
  int32_t* assignment_row = scratch_.get(assignment_row_, rows);
  moe_group_by_expert(ids, T, k, E, counts, offsets, permuted_token, assignment_row, stream_);

  if (w.shared) {
    bf16* gate_up = scratch_.get(gate_up_, T * 2 * w.shared->intermediate());
    mlp(*w.shared, h, T, gate_up, out);
  }
  bf16* y = scratch_.get(moe_out_, rows * D);
  if (w.fp8()) {
    moe_fp8(w, h, T, offsets, counts, permuted_token, y);
  } else {
    // The device reads the groups and, through permuted_token, the tokens.
    bf16* gate_up = scratch_.get(gate_up_, rows * 2 * I);
    bf16* act = scratch_.get(activation_, rows * I);
    const bool wide = rows >= kRowsPerExpertForWideGemm * E;
    auto grouped_gemm = [&](const bf16* x, const int32_t* x_rows, const bf16* const* weights, int64_t n, int64_t k,
                            bf16* out_rows) {
      if (wide)
        moe_grouped_gemm_wide(x, x_rows, offsets, counts, E, rows, weights, n, k, out_rows, stream_);
      else
        moe_grouped_gemm(x, x_rows, offsets, counts, E, weights, n, k, out_rows, stream_);
    };
    grouped_gemm(h, permuted_token, w.gate_up_by_expert.data(), 2 * I, D, gate_up);
    silu_mul(gate_up, rows, I, act, stream_);
    grouped_gemm(act, nullptr, w.down_by_expert.data(), D, I, y);
  }
  moe_combine(y, assignment_row, gate_weights, T, k, D, w.shared ? out : nullptr, out, stream_);
}

void DeepSeekCudaModel::moe_fp8(const MoeWeights& w, const bf16* h, int64_t T, const int32_t* offsets,
                                const int32_t* counts, const int32_t* permuted_token, bf16* y) const {
  const int64_t D = config_.hidden_size, I = config_.moe_intermediate_size;
  const int E = config_.n_routed_experts;
  const int64_t rows = T * config_.num_experts_per_tok;
  // The tokens once in e4m3 (not once per choice): the gate_up GEMMs read them through
  // permuted_token, as the bf16 path does.
  uint8_t* x = scratch_.get(moe_fp8_in_, T * D);
  float* x_scales = scratch_.get(moe_fp8_in_scales_, T * D / 128);
  quantize_fp8_blocks(h, T, D, x, x_scales, stream_);
  bf16* gate_up = scratch_.get(gate_up_, rows * 2 * I);
  moe_grouped_gemm_fp8(x, x_scales, T, permuted_token, offsets, counts, E, w.fp8_gate_up_by_expert.data(),
                       w.fp8_gate_up_scales_by_expert.data(), 2 * I, D, gate_up, stream_);
  uint8_t* act = scratch_.get(moe_fp8_act_, rows * I);
  float* act_scales = scratch_.get(moe_fp8_act_scales_, rows * I / 128);
  silu_mul_quantize_fp8_blocks(gate_up, rows, I, act, act_scales, stream_);
  moe_grouped_gemm_fp8(act, act_scales, rows, nullptr, offsets, counts, E, w.fp8_down_by_expert.data(),
                       w.fp8_down_scales_by_expert.data(), D, I, y, stream_);
}

}  // namespace tide::cuda
