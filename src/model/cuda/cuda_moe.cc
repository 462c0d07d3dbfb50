// DeepSeek's feed-forward on the GPU: a dense SwiGLU MLP in the first layers, MoE after.
// MoE step: router logits (fp32) → route_experts (one launch for both at one or two tokens), then
//  - decode-sized steps (tokens × top_k <= kDeviceRoutedMoeRows): two launches (moe_gemv_gate_up,
//    moe_gemv_down) over each token's routed choices, the expert read from the router's ids on
//    the device, and its shared experts, summed with the gate weights in the down launch;
//  - larger steps: group the assignments by expert → the gate_up GEMM of each expert over its
//    rows; one SiLU·mul over all rows; the down GEMMs, all reading the groups (and the tokens,
//    through permuted_token) on the device: moe_grouped_gemm while experts have few rows each
//    (reading the weights is the bound), moe_grouped_gemm_wide from kRowsPerExpertForWideGemm
//    rows an expert on average (long prefills, where the products are).
// Routed experts kept in fp8 (DeepSeek-V3's checkpoints) take the grouped path at every step size,
// in fp8 (moe_fp8); their shared experts and the dense MLPs, fp8 too, go through linear(). The
// grouped paths combine the result with the gate weights on top of the shared experts' output.
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "common/error.h"
#include "model/cuda/cuda_deepseek_ops.h"
#include "model/cuda/scratch.h"

namespace tide::cuda {

void DeepSeekCudaModel::StepOps::decode_feed_forward(const MoeGemv& m, const Normed& h) {
  bf16* act = m_.scratch_.get(m_.activation_, tokens_ * (m.top_k + m.shared) * m.inter);
  moe_gemv_gate_up(m, h, act, m_.stream_);
  if (h.norm_weight)
    moe_gemv_down_into_residual(m, act, h.delta, residual_, m_.stream_);
  else
    moe_gemv_down(m, act, block_output(), m_.stream_);
}

void DeepSeekCudaModel::StepOps::dense_mlp(int layer, const Normed& h) {
  const GatedMlpWeights& w = *m_.weights_.layers[layer].dense;
  if (const std::optional<MoeGemv> m = tokens_ <= kGemvMaxRows ? m_.dense_decode_mlp(w, tokens_) : std::nullopt) {
    decode_feed_forward(*m, h);
    return;
  }
  if (h.norm_weight) fail("layer {}: its MLP cannot fold into a decode step (folded_decode_supported said it could)", layer);
  bf16* gate_up = m_.scratch_.get(m_.gate_up_, row_capacity_ * 2 * w.intermediate());
  m_.mlp(w, h.x, tokens_, gate_up, block_output());
}

DeepSeekCudaModel::StepOps::Routes DeepSeekCudaModel::StepOps::route(int layer, const Normed& h) {
  const ModelConfig& c = m_.config_;
  const MoeWeights& w = *m_.weights_.layers[layer].moe;
  const int64_t T = tokens_, D = c.hidden_size;
  const int E = c.n_routed_experts;
  float* logits = m_.scratch_.get(m_.router_logits_, T * E);
  int32_t* ids = m_.scratch_.get(m_.route_ids_, T * c.num_experts_per_tok);
  float* gate_weights = m_.scratch_.get(m_.route_weights_, T * c.num_experts_per_tok);
  const float* bias = w.bias.size() ? w.bias.data() : nullptr;
  if (T <= kGemvMaxRows && D % 8 == 0) {
    route_experts_gemv(h, T, w.router.data.data(), D, bias, m_.router_, logits, m_.route_done_.data(), ids,
                       gate_weights, m_.stream_);
  } else {
    if (h.norm_weight) fail("layer {}: its router cannot read rows normalised as read at {} tokens", layer, T);
    m_.gemm_.bf16_nt_f32(h.x, T, w.router.data.data(), E, D, logits, m_.stream_);
    route_experts(logits, T, bias, m_.router_, ids, gate_weights, m_.stream_);
  }
  return {.ids = ids, .weights = gate_weights};
}

void DeepSeekCudaModel::StepOps::experts(int layer, const Normed& h, const Routes& routes) {
  const ModelConfig& c = m_.config_;
  const MoeWeights& w = *m_.weights_.layers[layer].moe;
  const int64_t T = tokens_, D = c.hidden_size, I = c.moe_intermediate_size;
  const int E = c.n_routed_experts, k = c.num_experts_per_tok;
  const int64_t rows = T * k;
  if (rows <= kDeviceRoutedMoeRows && !w.fp8()) {
    if (std::optional<MoeGemv> m = m_.decode_moe(w, T, routes.ids, routes.weights)) {
      m->shared_ahead_of_router = true;  // route() launched just before
      decode_feed_forward(*m, h);
      return;
    }
  }
  if (h.norm_weight)
    fail("layer {}: its experts cannot fold into a decode step (folded_decode_supported said they could)", layer);

  auto& scratch = m_.scratch_;
  const cudaStream_t stream = m_.stream_;
  int32_t* counts = scratch.get(m_.expert_counts_, E);
  int32_t* offsets = scratch.get(m_.expert_offsets_, E);
  int32_t* permuted_token = scratch.get(m_.permuted_token_, rows);
  int32_t* assignment_row = scratch.get(m_.assignment_row_, rows);
  moe_group_by_expert(routes.ids, T, k, E, counts, offsets, permuted_token, assignment_row, stream);

  bf16* out = block_output();
  if (w.shared) {
    bf16* gate_up = scratch.get(m_.gate_up_, row_capacity_ * 2 * w.shared->intermediate());
    m_.mlp(*w.shared, h.x, T, gate_up, out);
  }
  bf16* y = scratch.get(m_.moe_out_, rows * D);
  if (w.fp8()) {
    m_.moe_fp8(w, h.x, T, offsets, counts, permuted_token, y);
  } else {
    // The device reads the groups and, through permuted_token, the tokens.
    bf16* gate_up = scratch.get(m_.gate_up_, rows * 2 * I);
    bf16* act = scratch.get(m_.activation_, rows * I);
    const bool wide = rows >= kRowsPerExpertForWideGemm * E;
    auto grouped_gemm = [&](const bf16* x, const int32_t* x_rows, const bf16* const* weights, int64_t n, int64_t in,
                            bf16* out_rows) {
      if (wide)
        moe_grouped_gemm_wide(x, x_rows, offsets, counts, E, rows, weights, n, in, out_rows, stream);
      else
        moe_grouped_gemm(x, x_rows, offsets, counts, E, weights, n, in, out_rows, stream);
    };
    grouped_gemm(h.x, permuted_token, w.gate_up_by_expert.data(), 2 * I, D, gate_up);
    silu_mul(gate_up, rows, I, act, stream);
    grouped_gemm(act, nullptr, w.down_by_expert.data(), D, I, y);
  }
  moe_combine(y, assignment_row, routes.weights, T, k, D, w.shared ? out : nullptr, out, stream);
}

bool DeepSeekCudaModel::folded_decode_supported() const {
  const ModelConfig& c = config_;
  // Normalising as they read needs 16-byte rows in every kernel that does it.
  if (c.hidden_size % 8 != 0) return false;
  for (const DeepSeekLayerWeights& w : weights_.layers) {
    const std::optional<MoeGemv> m = w.moe ? (w.moe->fp8() || kGemvMaxRows * c.num_experts_per_tok > kDeviceRoutedMoeRows
                                                  ? std::nullopt
                                                  : decode_moe(*w.moe, kGemvMaxRows, nullptr, nullptr))
                                           : dense_decode_mlp(*w.dense, kGemvMaxRows);
    if (!m || m->inter % 8 != 0) return false;
  }
  return true;
}

std::optional<MoeGemv> DeepSeekCudaModel::decode_moe(const MoeWeights& w, int64_t tokens, const int32_t* ids,
                                                     const float* gate_weights) const {
  const ModelConfig& c = config_;
  MoeGemv m{.tokens = tokens, .hidden = c.hidden_size, .inter = c.moe_intermediate_size,
            .top_k = c.num_experts_per_tok, .ids = ids, .weights = gate_weights,
            .gate_up = w.gate_up_by_expert.data(), .down = w.down_by_expert.data()};
  if (w.shared) {
    // The shared MLP rides along as slices of the routed experts' width; any other width, or fp8
    // rows, take the grouped path.
    if (w.shared->intermediate() % c.moe_intermediate_size != 0 || w.shared->is_fp8()) return std::nullopt;
    m.shared = static_cast<int>(w.shared->intermediate() / c.moe_intermediate_size);
    m.shared_gate_up = w.shared->gate_up.weight.data.data();
    m.shared_down = w.shared->down.weight.data.data();
  }
  if (!moe_gemv_supported(m)) return std::nullopt;
  return m;
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
  quantize_fp8_blocks(h, T, D, x, x_scales, T, stream_);
  bf16* gate_up = scratch_.get(gate_up_, rows * 2 * I);
  moe_grouped_gemm_fp8(x, x_scales, T, permuted_token, offsets, counts, E, w.fp8_gate_up_by_expert.data(),
                       w.fp8_gate_up_scales_by_expert.data(), 2 * I, D, gate_up, stream_);
  uint8_t* act = scratch_.get(moe_fp8_act_, rows * I);
  float* act_scales = scratch_.get(moe_fp8_act_scales_, rows * I / 128);
  silu_mul_quantize_fp8_blocks(gate_up, rows, I, act, act_scales, rows, stream_);
  moe_grouped_gemm_fp8(act, act_scales, rows, nullptr, offsets, counts, E, w.fp8_down_by_expert.data(),
                       w.fp8_down_scales_by_expert.data(), D, I, y, stream_);
}

}  // namespace tide::cuda
