#pragma once
// DeepSeekMoE (V2 §2.2, V3 §2.1.2): fine-grained routed experts plus always-on shared
// experts. Tokens are grouped by expert so each expert's weights are read once per step.
#include <optional>
#include <vector>

#include "model/mlp.h"

namespace tide {

class MoeBlock {
 public:
  MoeBlock(WeightLoader& loader, const ModelConfig& config, int layer);
  void forward(const float* h, int64_t tokens, float* out) const;

 private:
  const ModelConfig& c_;
  WeightMatrix router_;
  std::vector<float> bias_;  // e_score_correction_bias, empty if absent
  std::vector<GatedMlp> experts_;
  std::optional<GatedMlp> shared_;
};

}  // namespace tide
