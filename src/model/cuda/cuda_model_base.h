#pragma once
// What every model on the GPU shares, whatever its family: the Model interface over one GPU
// (forward, step with the tokens picked on the GPU, the paged cache and the memory it may take),
// the upload of a step's rows, decode steps as CUDA graphs, and the ops every decoder's pass uses
// (DecoderOps: the embedding, the norms, the residual stream, the LM head). A family
// (DeepSeekCudaModel, LlamaCudaModel) adds its weights and the ops of its own pass, which
// run_step runs.
//
// forward() and step() run on the model's own stream and return when their results are on the
// host. One caller at a time (the engine's step loop): the step's scratch buffers belong to the
// model.
//
// Decode steps run as CUDA graphs (no kernel of a step needs a host round trip): the first step
// of a shape runs eagerly (sizing every buffer), the second is captured, later ones replay it. A
// shape is the token count, the block-table width, the context bucket the attention plan covers,
// and the cache; graphs are dropped when a scratch buffer moves.
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "model/batch_layout.h"
#include "model/cuda/device_kv_cache.h"
#include "model/cuda/device_weights.h"
#include "model/cuda/scratch.h"
#include "model/attention_runs.h"
#include "model/model.h"
#include "model/rope.h"

namespace tide::cuda {

class CudaModelBase : public Model {
 public:
  ~CudaModelBase() override;

  const ModelConfig& config() const override { return config_; }
  std::vector<float> forward(const Batch& batch, KvCache& cache) const override;
  // The picked sequences' tokens are chosen on the GPU (sample_rows): only their ids come back.
  StepOutput step(const Batch& batch, KvCache& cache) const override;
  std::unique_ptr<KvCache> make_kv_cache(int num_blocks, int block_size) const override;
  std::size_t kv_cache_block_bytes(int block_size) const override;
  std::size_t device_memory_for_cache(double utilization) const override;
  // Steps timed on the GPU, for `tide bench engine`: from the step's first kernel to its last copy
  // back, so that what a step's wall time adds (the host's work, the launch) shows. Graphs
  // captured before are dropped, to be captured again with the mark of their start.
  void time_steps_on_gpu() const;
  double last_step_gpu_ms() const { return last_step_gpu_ms_; }  // 0 until a timed step() ran
  std::string device_description() const override { return device_; }

 protected:
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
    // The rows in runs attended alike (attention_runs.h), planned by the family's plan_step: decode
    // rows and short chunks row by row, each long prefill chunk at once.
    std::vector<AttentionRun> attention_runs;
    int max_expanded_context = 0;
  };

  explicit CudaModelBase(ModelConfig config);

  // The family's planning of a step beside the rows' upload.
  virtual void plan_step(const Batch& /*batch*/, const BatchLayout& /*layout*/, Step& /*step*/) const {}
  // Every kernel of the step, embedding to logits (into logits_): what a graph captures.
  virtual void run_step(const Step& step, DeviceKvCache& cache) const = 0;
  // run_step after marking the step's start (time_steps_on_gpu): what graphs capture.
  void run_step_marked(const Step& step, DeviceKvCache& cache) const;
  // The LM head's rows (the width of a logits row).
  virtual int64_t vocab_rows() const = 0;

  // The ops every decoder's pass shares (decoder_forward.h), over one step's rows.
  class DecoderOps;

  // rope's cos and sin tables [max_position_embeddings, rope.dim() / 2] on the device, filled from
  // RotaryEmbedding::cos_sin so that the CPU and the GPU rotate by the same angles.
  void upload_rope_tables(const RotaryEmbedding& rope, DeviceBuffer<float>& cos, DeviceBuffer<float>& sin) const;
  // y[n, w.rows()] = x · Wᵀ.
  //  - bf16 W: a GEMV at up to kGemvMaxRows rows (through Gemm::bf16_nt, or straight to gemv_nt
  //    normalising x as it reads where x.norm_weight is set), cuBLASLt above.
  //  - fp8 W: x quantized to e4m3 per 1×128 block (DeepSeek-V3's fp8 inference), at any row
  //    count the same values: up to kGemvMaxRows rows as gemv_fp8 reads them, above by
  //    quantize_fp8_blocks then the fp8 tensor cores (Gemm::fp8_block_nt), which write whole
  //    tiles of rows: y must hold padded_rows(n) rows.
  // Rows normalised as read are taken only at GEMV sizes.
  void linear(const DeviceLinear& w, const GemvInput& x, int64_t n, bf16* y) const;
  // y[rows, w.rows] = x · Wᵀ over quantized rows (x_scales' stride `rows`): cuBLASLt's
  // block-scaled fp8, or gemm_fp8_blocks at depths it gets wrong (Gemm::kFp8MinDepth).
  void multiply_fp8(const uint8_t* x, const float* x_scales, int64_t rows, const DeviceFp8Matrix& w, bf16* y) const;
  // The rows an output of linear() must hold for n rows of input.
  static int64_t padded_rows(int64_t n) { return (n + Gemm::kFp8RowTile - 1) / Gemm::kFp8RowTile * Gemm::kFp8RowTile; }
  // A dense SwiGLU MLP over n rows: out = down(silu(gate) · up), through gate_up; gate_up and out
  // hold padded_rows(n) rows (linear()).
  void mlp(const GatedMlpWeights& w, const bf16* x, int64_t n, bf16* gate_up, bf16* out) const;
  // The same MLP as the decode-sized MoE launches run it (one shared slot), or none where their
  // limits rule it out.
  std::optional<MoeGemv> dense_decode_mlp(const GatedMlpWeights& w, int64_t tokens) const;

  ModelConfig config_;
  std::string device_;
  int sm_count_ = 1;
  cudaStream_t stream_ = nullptr;

  // Per-step state, reused (see scratch.h).
  mutable Scratch scratch_;
  mutable Gemm gemm_;
  mutable DeviceBuffer<bf16> residual_, hidden_, delta_, gate_up_, activation_, logit_rows_, logit_normed_;
  mutable DeviceBuffer<float> logits_;
  mutable DeviceBuffer<uint8_t> fp8_rows_;  // linear()'s and mlp()'s inputs quantized to e4m3
  mutable DeviceBuffer<float> fp8_row_scales_;

 private:
  // Checks the batch and runs its every kernel; the logits are left in logits_. The caller holds
  // step_mutex_.
  Step run_batch(const Batch& batch, KvCache& cache) const;
  Step upload_step(const Batch& batch, const BatchLayout& layout, const DeviceKvCache& cache) const;
  // Runs the step through a graph where its shape allows; false where it must run eagerly.
  bool run_step_as_graph(const Step& step, DeviceKvCache& cache) const;

  mutable std::mutex step_mutex_;
  mutable cudaEvent_t step_began_ = nullptr, step_ended_ = nullptr;  // time_steps_on_gpu
  mutable double last_step_gpu_ms_ = 0;
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
  mutable DeviceBuffer<int32_t> step_ints_;
  // Not from scratch_: no graph uses them, so their growth must not drop the graphs.
  mutable DeviceBuffer<int32_t> next_tokens_;
  mutable DeviceBuffer<float> pick_temperatures_;
  mutable DeviceBuffer<uint64_t> pick_seeds_;
};

// decoder_forward's own ops over a step's bf16 rows: the residual stream, the block output
// pending on it, and the norm that adds one into the other. A family's ops derive from it and pick
// their weights (norm_with, embed_with, logits_with).
class CudaModelBase::DecoderOps {
 public:
  // Rows as stored (x), or, where a family folds the norm into the kernels that read the rows,
  // normalised as they are read (GemvInput's norm_weight).
  using Normed = GemvInput;

 protected:
  DecoderOps(const CudaModelBase& model, const Step& step);

  // The residual stream = the tokens' rows of the embedding table.
  void embed_with(const DeviceMatrix& table);
  // residual += pending; rows = rms_norm(residual) · weight, in one launch.
  Normed norm_with(const bf16* weight);
  // The final norm and the LM head of the logits rows, the pending output added as they are
  // normalised, into the model's logits_.
  void logits_with(const bf16* final_norm, const DeviceMatrix& head);
  // Where a block writes its output; the next norm adds it into the residual. It holds
  // row_capacity_ rows.
  bf16* block_output();

  const CudaModelBase& base_;
  const Step& step_;
  const int64_t tokens_;
  // The rows an output of linear() holds (padded_rows(tokens_)): what the step's buffers written
  // by a projection are sized for.
  const int64_t row_capacity_;
  const float eps_;
  bf16* residual_;
  bf16* normed_;
  bf16* pending_;
  bool has_pending_ = false;
};

}  // namespace tide::cuda
