#pragma once
// Llama and Qwen2 (the DeepSeek-R1-Distill models) on the CPU, in float32: llama/forward_pass.h's
// pass (grouped-query attention with neox-style rope, llama3 scaling for Llama 3.x, q/k/v biases
// for Qwen2; dense SwiGLU) over the CPU ops.
#include <vector>

#include "model/decoder.h"
#include "model/mlp.h"
#include "model/rope.h"

namespace tide {

class LlamaModel final : public DecoderModel {
 public:
  LlamaModel(ModelConfig config, Checkpoint checkpoint, const ModelOptions& options = {});

 protected:
  std::vector<float> run_forward(const Batch& batch, PagedKvCache& cache) const override;

 private:
  class CpuOps;  // llama_model.cc

  struct AttentionWeights {
    WeightMatrix q, k, v, o;
    std::vector<float> q_bias, k_bias, v_bias;  // empty without attention bias
  };

  RotaryEmbedding rope_;
  std::vector<AttentionWeights> attn_;
  std::vector<GatedMlp> mlp_;
};

}  // namespace tide
