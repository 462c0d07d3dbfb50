#pragma once
// DeepSeekMoE (V2 §2.2, V3 §2.1.2): fine-grained routed experts plus always-on shared
// experts. Tokens are grouped by expert so each expert's weights are read once per step.
#include <optional>
#include <utility>
#include <vector>

#include "model/mlp.h"

namespace tide {

// The CPU backend's MoE ops (forward_pass.h's route and experts), over float32 rows.
class MoeBlock {
 public:
  // Per routed expert, the (token, gate weight) pairs routed to it.
  using Routes = std::vector<std::vector<std::pair<int64_t, float>>>;

  MoeBlock(WeightLoader& loader, const ModelConfig& config, int layer);
  // The router's choices for the normed rows h[tokens, hidden] (moe_router.h).
  Routes route(const float* h, int64_t tokens) const;
  // out[tokens, hidden] = the shared experts' output plus each routed expert's weighted by its gate.
  void experts(const float* h, int64_t tokens, const Routes& routes, float* out) const;

 private:
  const ModelConfig& c_;
  WeightMatrix router_;
  std::vector<float> bias_;  // e_score_correction_bias, empty if absent
  std::vector<GatedMlp> experts_;
  std::optional<GatedMlp> shared_;
};

}  // namespace tide
