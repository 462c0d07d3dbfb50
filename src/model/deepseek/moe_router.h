#pragma once
// DeepSeek's expert routers, as a pure function of one token's router logits:
//  - scoring: softmax (V2) or sigmoid (V3);
//  - selection: greedy top-k; group_limited_greedy (V2: keep the topk_group groups with the
//    highest max score); noaux_tc (V3: add e_score_correction_bias for selection only, rank
//    groups by the sum of their two best biased scores);
//  - weights: the unbiased scores of the chosen experts, normalised when norm_topk_prob, and
//    scaled by routed_scaling_factor (V2 scales only when it does not normalise, V3 always).
#include <span>
#include <vector>

#include "model/config.h"

namespace tide {

struct ExpertChoice {
  int expert;
  float weight;
};

// `bias` is empty when the checkpoint has no e_score_correction_bias.
std::vector<ExpertChoice> route_token(std::span<const float> logits, std::span<const float> bias,
                                      const ModelConfig& config);

}  // namespace tide
