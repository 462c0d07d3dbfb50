#pragma once
// DeepSeek (V2, V2-Lite, V3, R1: MLA + MoE) on one GPU, in bf16 with fp32 accumulation: the
// forward pass of model/deepseek/forward_pass.h, the same one the CPU reference runs, over the
// CUDA ops of StepOps (cuda_deepseek_ops.h). The ops fuse where the CPU path has no boundary to
// cross: the residual add into the next RMSNorm; at one or two tokens the norm into the kernels
// that read it, and the feed-forward's output straight into the residual; the MoE's shared
// experts as slots of the routed launch. MLA runs decode rows and short chunks in the absorbed
// form and a sequence's prefill chunk of kExpandedPrefillRows or more in the expanded form (its
// context put through kv_b_proj once, then causal flash attention). The cache holds bf16
// [latent | rope key] entries.
//
// forward() and step() run on the model's own stream and return when their results are on the host. One
// caller at a time (the engine's step loop): the step's scratch buffers belong to the model.
//
// Decode steps run as CUDA graphs (no kernel of a step needs a host round trip): the
// first step of a shape runs eagerly (sizing every buffer), the second is captured, later ones
// replay it. A shape is the token count, the block-table width, the context bucket the attention
// plan covers, and the cache; graphs are dropped when a scratch buffer moves.
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "model/batch_layout.h"
#include "model/cuda/deepseek_weights.h"
#include "model/cuda/device_kv_cache.h"
#include "model/cuda/scratch.h"
#include "model/deepseek/mla_runs.h"
#include "model/model.h"

namespace tide::cuda {

class DeepSeekCudaModel : public Model {
 public:
  DeepSeekCudaModel(ModelConfig config, DeepSeekWeights weights);
  ~DeepSeekCudaModel() override;

  const ModelConfig& config() const override { return config_; }
  std::vector<float> forward(const Batch& batch, KvCache& cache) const override;
  // The picked sequences' tokens are chosen on the GPU (sample_rows): only their ids come back.
  StepOutput step(const Batch& batch, KvCache& cache) const override;
  std::unique_ptr<KvCache> make_kv_cache(int num_blocks, int block_size) const override;
  std::size_t kv_cache_block_bytes(int block_size) const override;
  std::size_t device_memory_for_cache(double utilization) const override;
  std::string device_description() const override { return device_; }
  std::size_t weight_bytes() const override { return weights_.bytes; }
  // Whether every MoE layer holds its routed experts in fp8 (what the roofline of a step counts).
  bool fp8_experts() const { return !bf16_expert_layers_ && config_.n_routed_experts > 0; }

 private:
  // One forward pass's row layout on the device.
  struct Step {
    int64_t tokens = 0;
    int64_t logit_rows = 0;
    int max_context = 0;
    int64_t table_stride = 0;
    const int32_t* token_ids = nullptr;
    const int32_t* positions = nullptr;
    const int32_t* slots = nullptr;         // cache slot (block * block_size + offset) of each new token
    const int32_t* context_lens = nullptr;  // position + 1 of each token: what its attention row sees
    const int32_t* logit_row_tokens = nullptr;
    const int32_t* block_tables = nullptr;  // [tokens, table_stride]: each token's sequence's table
    // The step's rows in order, in runs attended alike (mla_runs.h).
    std::vector<MlaRun> attention_runs;
    int max_expanded_context = 0;
  };

  // Checks the batch and runs its every kernel; the logits are left in logits_. The caller holds
  // step_mutex_.
  Step run_batch(const Batch& batch, KvCache& cache) const;
  Step upload_step(const Batch& batch, const BatchLayout& layout, const DeviceKvCache& cache) const;
  // Every kernel of the step, embedding to logits (in logits_): what a graph captures.
  void run_step(const Step& step, DeviceKvCache& cache) const;
  // Runs the step through a graph where its shape allows; false where it must run eagerly.
  bool run_step_as_graph(const Step& step, DeviceKvCache& cache) const;
  // The forward pass's ops over one step's rows (cuda_deepseek_ops.h).
  class StepOps;
  // Whether the model's MLA widths are those mla_prefill is built for (DeepSeek's own).
  bool expanded_prefill_supported() const;
  // A sequence's chunk of at least this many rows is attended in the expanded form: from one
  // query tile of mla_prefill on, expanding the context once costs less than reading it once per
  // row.
  static constexpr int64_t kExpandedPrefillRows = 64;
  // Whether every layer's feed-forward can fold at one or two tokens (not fp8 experts, widths
  // within the decode kernels' limits): such steps then store no normalised rows.
  bool folded_decode_supported() const;
  void mlp(const GatedMlpWeights& w, const bf16* x, int64_t n, bf16* gate_up, bf16* out) const;
  // MoE steps of at most this many (token, choice) rows run each row through its expert, the
  // shared experts beside them (moe_gemv_gate_up, moe_gemv_down); above it, grouping rows by expert
  // reads each expert once instead of once per row (moe_grouped_gemm). Neither needs a host round
  // trip, so such steps can be graphs.
  static constexpr int64_t kDeviceRoutedMoeRows = 16;
  // A dense layer's MLP as the decode-sized MoE launches run it (one shared slot), or none where
  // their limits rule it out.
  std::optional<MoeGemv> dense_decode_mlp(const GatedMlpWeights& w, int64_t tokens) const;
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

  ModelConfig config_;
  std::string device_;
  DeepSeekWeights weights_;
  bool bf16_expert_layers_ = false;  // some MoE layer holds its routed experts in bf16
  bool folded_decode_ = false;       // folded_decode_supported()
  DeviceBuffer<float> rope_cos_, rope_sin_;  // [max_position_embeddings, rope_dim / 2]
  float softmax_scale_;
  int sm_count_ = 1;
  RouterParams router_;
  cudaStream_t stream_ = nullptr;

  // Per-step state, reused (see scratch.h).
  mutable std::mutex step_mutex_;
  mutable Scratch scratch_;
  struct Graph {
    cudaGraphExec_t exec = nullptr;  // null: seen once, not captured yet
    uint64_t epoch = 0;
    uint64_t last_used = 0;
  };
  // A server sees many shapes (batch sizes, table widths, context buckets) over its life: the
  // graphs least recently used past this many are destroyed.
  static constexpr std::size_t kMaxGraphs = 64;
  // tokens, table width, context bucket, and the cache: its memory and its block count and size,
  // which place every layer after the first (a new cache may reuse a freed one's address).
  using GraphKey = std::tuple<int64_t, int64_t, int, const void*, int, int>;
  mutable std::map<GraphKey, Graph> graphs_;
  mutable uint64_t graph_clock_ = 0;
  mutable Gemm gemm_;
  mutable DeviceBuffer<int32_t> step_ints_;
  mutable DeviceBuffer<bf16> residual_, hidden_, delta_, q_, kv_, q_absorbed_, latent_out_, heads_out_, gate_up_,
      activation_, lora_;
  mutable DeviceBuffer<bf16> context_latent_, context_rope_, context_kv_;  // expanded prefill
  mutable DeviceBuffer<bf16> moe_out_;
  mutable DeviceBuffer<uint8_t> moe_fp8_in_, moe_fp8_act_;
  mutable DeviceBuffer<float> moe_fp8_in_scales_, moe_fp8_act_scales_;
  mutable DeviceBuffer<float> router_logits_, route_weights_, logits_;
  // Not from scratch_: no graph uses them, so their growth must not drop the graphs.
  mutable DeviceBuffer<int32_t> next_tokens_;
  mutable DeviceBuffer<float> pick_temperatures_;
  mutable DeviceBuffer<uint64_t> pick_seeds_;
  mutable DeviceBuffer<int32_t> route_ids_, expert_counts_, expert_offsets_, permuted_token_, assignment_row_;
  mutable DeviceBuffer<unsigned char> attention_workspace_;
  // route_experts_gemv's count of finished blocks (it leaves it at 0).
  mutable DeviceBuffer<unsigned> route_done_;
};

}  // namespace tide::cuda
