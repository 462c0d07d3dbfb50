#pragma once
// DeepSeek V2 / V2-Lite / V3 / R1: MLA attention; dense SwiGLU for the first
// first_k_dense_replace layers, DeepSeekMoE after.
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
  void attention(int layer, const float* h, const Batch& batch, const BatchLayout& layout, PagedKvCache& cache,
                 float* out) const override;
  void feed_forward(int layer, const float* h, int64_t tokens, float* out) const override;

 private:
  RotaryEmbedding rope_;
  std::vector<MlaAttention> attention_;
  std::vector<std::optional<GatedMlp>> dense_;  // set for dense layers
  std::vector<std::unique_ptr<MoeBlock>> moe_;  // set for MoE layers
};

}  // namespace tide
