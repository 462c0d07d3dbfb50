#pragma once
// The CUDA backend's ops for the DeepSeek forward pass (model/deepseek/forward_pass.h), over one
// step's bf16 rows in the model's scratch buffers. Built per step by run_step, so a captured
// graph holds exactly the launches the ops make.
//
// Where the ops fuse:
//   - norm() adds the pending block output into the residual in the same launch (rms_norm with a
//     residual). In a folded step (one or two tokens, folded_decode_supported()) it launches
//     nothing: it returns the residual, the pending output and the norm weight (GemvInput), and
//     the kernels that read the rows normalise them as they read.
//   - A feed-forward given such rows adds the pending output and its own into the residual in
//     its last launch (moe_gemv_down_into_residual), so nothing is pending after it.
//   - The MoE's shared experts run as slots of the routed experts' launches at decode sizes, and
//     start while the router routes (MoeGemv::shared_ahead_of_router); MLA's absorption runs
//     beside the cache write (BatchedGemm::x_ready_early): each reads an input written two
//     launches back.
// The implementations sit with the launches they make: the stream's ends here and in
// cuda_deepseek_model.cc, MLA in cuda_mla.cc, the feed-forward in cuda_moe.cc.
#include "backend/cuda/ops.h"
#include "model/cuda/cuda_deepseek_model.h"
#include "model/decoder_forward.h"

namespace tide::cuda {

class DeepSeekCudaModel::StepOps : public CudaModelBase::DecoderOps {
 public:
  // Normed: rows as stored (x), or normalised as they are read (norm_weight set; delta, the
  // pending block output, then rides along for the feed-forward to add into the residual).
  // q (every head's [nope | rope], rows q_stride apart) and the kv_a rows [latent | rope key].
  struct Projection {
    bf16* q;  // rope rotates it (RopeArgs's x), into the absorbed rows, not in place
    int64_t q_stride;
    const bf16* kv;
    int64_t kv_stride;
  };
  // Each token's top-k experts and gate weights, on the device.
  struct Routes {
    const int32_t* ids;
    const float* weights;
  };

  StepOps(const DeepSeekCudaModel& model, const Step& step, DeviceKvCache& cache);

  void embed();
  Normed norm(int layer, LayerNorm which);
  void logits();

  const std::vector<AttentionRun>& mla_runs() const { return step_.attention_runs; }
  Projection project_attention_inputs(int layer, const Normed& h);
  void write_latent_cache(int layer, const Projection& p);
  void absorb_queries(int layer, const Projection& p, const AttentionRun& run);
  void attend_latent(int layer, const AttentionRun& run);
  void expand_values(int layer, const AttentionRun& run);
  void attend_expanded(int layer, const Projection& p, const AttentionRun& run);
  void project_attention_output(int layer);

  void dense_mlp(int layer, const Normed& h);
  Routes route(int layer, const Normed& h);
  void experts(int layer, const Normed& h, const Routes& routes);

 private:
  // The decode-sized feed-forward (two launches): into block_output(), or, h normalised as read,
  // with h's pending output into the residual.
  void decode_feed_forward(const MoeGemv& m, const Normed& h);
  // The absorbed products through an fp8 kv_b_proj, per head h of the run's tokens:
  // y[t, h] = x[t, h] · W_hᵀ, x's (token, head) rows (x.group_rows = heads) quantized per 1×128
  // block (as read at decode sizes, in a launch of their own otherwise), W_h an e4m3 [out, in]
  // matrix `w_batch` bytes after W_{h-1} and its scales `w_scale_batch` after theirs, y's rows
  // y_token_stride apart and its heads y_head_stride.
  struct HeadsFp8 {
    const uint8_t* w;
    const float* w_scales;
    int64_t w_batch, w_scale_batch, out, in;
    bf16* y;
    int64_t y_token_stride, y_head_stride;
  };
  void multiply_heads_fp8(const QuantizeRows& x, int64_t tokens, const HeadsFp8& p);
  // q_nope · W_UK[h] for rows [first_row, first_row + rows) through a bf16 kv_b_proj, into the
  // latent part of their absorbed rows.
  BatchedGemm absorption(int layer, const Projection& p, int64_t first_row, int64_t rows) const;

  const DeepSeekCudaModel& m_;
  DeviceKvCache& cache_;
  const bool folded_;
  // [tokens, heads, latent + rope]: the rope part from write_latent_cache's launch, the latent part
  // from absorb_queries or, when queries_absorbed_, from that same launch.
  bf16* q_absorbed_ = nullptr;
  bf16* heads_out_ = nullptr;   // [tokens, heads, v]
  bool queries_absorbed_ = false;  // this layer's, by the launch that wrote its cache entries
};

}  // namespace tide::cuda
