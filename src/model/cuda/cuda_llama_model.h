#pragma once
// Llama and Qwen2 (the DeepSeek-R1-Distill models) on one GPU, in bf16 with fp32 accumulation: the
// forward pass of model/llama/forward_pass.h, the same one the CPU reference runs, over the CUDA
// ops of StepOps (cuda_llama_model.cc):
//   q, k and v in one projection of the normed rows (Qwen2's biases added after it);
//   neox rope on q (into its own rows) and on k (in place), then each new token's [k | v] scattered
//   into the paged cache;
//   grouped-query attention over the cache: a prefill chunk of kFlashPrefillRows or more at once
//   (gqa_prefill, causal flash attention on the tensor cores), other rows (decode, short chunks)
//   each over its own context in one launch (gqa_decode: each kv head's keys and values read once
//   for its group); both at head_dim 128, other widths through latent_attention's grouped form;
//   o_proj; a dense SwiGLU MLP (at one or two tokens gate_up and SiLU·mul in the decode-sized
//   MoE launch with one slot, then down as a GEMV).
// The cache holds bf16 [k of every kv head | v of every kv head] entries, as the CPU cache does.
// What every GPU model shares (the step, graphs, sampling) is CudaModelBase's.
#include "model/cuda/cuda_model_base.h"
#include "model/cuda/llama_weights.h"

namespace tide::cuda {

class LlamaCudaModel final : public CudaModelBase {
 public:
  LlamaCudaModel(ModelConfig config, LlamaWeights weights);

  std::size_t weight_bytes() const override { return weights_.bytes; }

 private:
  // The runs of the step's rows (attention_runs.h): whole chunks are the flash prefill's.
  void plan_step(const Batch& batch, const BatchLayout& layout, Step& step) const override;
  void run_step(const Step& step, DeviceKvCache& cache) const override;
  // A sequence's chunk of at least this many rows (one query tile of gqa_prefill) is attended
  // by the flash kernel, where its head width is the kernel's.
  static constexpr int64_t kFlashPrefillRows = 64;
  int64_t vocab_rows() const override { return weights_.head().rows; }
  class StepOps;  // cuda_llama_model.cc

  LlamaWeights weights_;
  DeviceBuffer<float> rope_cos_, rope_sin_;  // [max_position_embeddings, head_dim / 2]
  bool rope_interleaved_ = false;
  mutable DeviceBuffer<bf16> qkv_, q_, heads_out_;
  mutable DeviceBuffer<unsigned char> attention_workspace_;
  mutable DeviceBuffer<unsigned> decode_counters_;
};

}  // namespace tide::cuda
