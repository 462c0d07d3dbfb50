#pragma once
// DeepSeek V2 / V2-Lite / V3 / R1 on the CPU, in float32: forward_pass.h's pass over the CPU
// ops (MlaAttention; a dense SwiGLU for the first first_k_dense_replace layers, MoeBlock after).
#include <memory>
#include <optional>
#include <vector>

#include "model/decoder.h"
#include "model/deepseek/mla_attention.h"
#include "model/deepseek/moe.h"
#include "model/mlp.h"
#include "model/rope.h"

namespace tide {

class DeepSeekModel final : public DecoderModel {
 public:
  DeepSeekModel(ModelConfig config, Checkpoint checkpoint, const ModelOptions& options);

 protected:
  std::vector<float> run_forward(const Batch& batch, PagedKvCache& cache) const override;

 private:
  class CpuOps;  // deepseek_model.cc

  MlaMode mla_mode_;
  RotaryEmbedding rope_;
  std::vector<MlaAttention> attention_;
  std::vector<std::optional<GatedMlp>> dense_;  // set for dense layers
  std::vector<std::unique_ptr<MoeBlock>> moe_;  // set for MoE layers
};

}  // namespace tide
