#pragma once
// DeepSeek (V2, V2-Lite, V3, R1: MLA + MoE) on one GPU, in bf16 with fp32 accumulation (an fp8
// checkpoint's fp8 matrices in fp8, CudaModelBase::linear() and moe_fp8): the
// forward pass of model/deepseek/forward_pass.h, the same one the CPU reference runs, over the
// CUDA ops of StepOps (cuda_deepseek_ops.h). The ops fuse where the CPU path has no boundary to
// cross: the residual add into the next RMSNorm; at one or two tokens the norm into the kernels
// that read it, and the feed-forward's output straight into the residual; the MoE's shared
// experts as slots of the routed launch. MLA runs decode rows and short chunks in the absorbed
// form and a sequence's prefill chunk of kExpandedPrefillRows or more in the expanded form (its
// context put through kv_b_proj once, then causal flash attention). The cache holds bf16
// [latent | rope key] entries. What every GPU model shares (the step, graphs, sampling) is
// CudaModelBase's.
#include <optional>

#include "model/cuda/cuda_model_base.h"
#include "model/cuda/deepseek_weights.h"

namespace tide::cuda {

class DeepSeekCudaModel : public CudaModelBase {
 public:
  DeepSeekCudaModel(ModelConfig config, DeepSeekWeights weights);

  std::size_t weight_bytes() const override { return weights_.bytes; }
  // Weight bytes one decode step of `batch` tokens reads, as this model stores them (fp8 matrices
  // at a byte a parameter, with their block scales and padding rows): every projection, router
  // and shared expert once, the routed experts touched_experts() expects, the LM head, and the
  // batch's embedding rows. What the roofline of a decode step counts.
  double decode_weight_bytes(int batch) const;
  // Of the parameters one token's forward pass multiplies by, those multiplied in fp8 (an fp8
  // checkpoint's matrices kept so, the routed experts counted num_experts_per_tok times): what a
  // prefill's roofline puts at the fp8 rate rather than the bf16 one.
  double fp8_params_per_token() const;

 private:
  // MLA's runs of the step's rows (attention_runs.h).
  void plan_step(const Batch& batch, const BatchLayout& layout, Step& step) const override;
  void run_step(const Step& step, DeviceKvCache& cache) const override;
  int64_t vocab_rows() const override { return weights_.head().rows; }
  // The forward pass's ops over one step's rows (cuda_deepseek_ops.h).
  class StepOps;
  // Whether the model's MLA widths are those mla_prefill is built for (DeepSeek's own).
  bool expanded_prefill_supported() const;
  // A sequence's chunk of at least this many rows is attended in the expanded form: from one
  // query tile of mla_prefill on, expanding the context once costs less than reading it once per
  // row.
  static constexpr int64_t kExpandedPrefillRows = 64;
  // Whether every layer's feed-forward can fold at one or two tokens (no fp8 matrices, widths
  // within the decode kernels' limits): such steps then store no normalised rows.
  bool folded_decode_supported() const;
  // MoE steps of at most this many (token, choice) rows run each row through its expert, the
  // shared experts beside them (moe_gemv_gate_up, moe_gemv_down); above it, grouping rows by expert
  // reads each expert once instead of once per row (moe_grouped_gemm). Neither needs a host round
  // trip, so such steps can be graphs.
  static constexpr int64_t kDeviceRoutedMoeRows = 16;
  // The decode-sized MoE launches' arguments, or none where their limits rule them out.
  std::optional<MoeGemv> decode_moe(const MoeWeights& w, int64_t tokens, const int32_t* ids,
                                    const float* gate_weights) const;
  // From this many rows per expert on average (long prefills), moe_grouped_gemm_wide's output
  // tiles beat moe_grouped_gemm's passes over each expert's weights (bf16 experts; fp8 ones
  // always run moe_grouped_gemm_fp8).
  static constexpr int64_t kRowsPerExpertForWideGemm = 128;
  // The routed experts in fp8, multiplied in fp8: activations quantized to e4m3 per 1×128 block,
  // both expert GEMMs through moe_grouped_gemm_fp8, for steps of any size.
  void moe_fp8(const MoeWeights& w, const bf16* h, int64_t tokens, const int32_t* offsets, const int32_t* counts,
               const int32_t* permuted_token, bf16* y) const;

  DeepSeekWeights weights_;
  bool folded_decode_ = false;       // folded_decode_supported()
  DeviceBuffer<float> rope_cos_, rope_sin_;  // [max_position_embeddings, rope_dim / 2]
  float softmax_scale_;
  RouterParams router_;

  mutable DeviceBuffer<bf16> q_, kv_, q_absorbed_, latent_out_, heads_out_, lora_;
  mutable DeviceBuffer<bf16> context_latent_, context_rope_, context_kv_;  // expanded prefill
  mutable DeviceBuffer<bf16> moe_out_;
  mutable DeviceBuffer<uint8_t> moe_fp8_in_, moe_fp8_act_;
  mutable DeviceBuffer<float> moe_fp8_in_scales_, moe_fp8_act_scales_;
  mutable DeviceBuffer<float> router_logits_, route_weights_;
  mutable DeviceBuffer<int32_t> route_ids_, expert_counts_, expert_offsets_, permuted_token_, assignment_row_;
  mutable DeviceBuffer<unsigned char> attention_workspace_;
  // route_experts_gemv's count of finished blocks (it leaves it at 0).
  mutable DeviceBuffer<unsigned> route_done_;
};

}  // namespace tide::cuda
