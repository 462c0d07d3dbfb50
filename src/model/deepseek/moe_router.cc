#include "model/deepseek/moe_router.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tide {
namespace {

// Indices of the k largest values, ties to the lower index (as torch.topk on CPU).
std::vector<int> top_indices(std::span<const float> values, int k) {
  std::vector<int> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return values[a] > values[b] || (values[a] == values[b] && a < b); });
  idx.resize(k);
  return idx;
}

}  // namespace

std::vector<ExpertChoice> route_token(std::span<const float> logits, std::span<const float> bias,
                                      const ModelConfig& c) {
  const int E = c.n_routed_experts;
  std::vector<float> scores(logits.begin(), logits.end());
  if (c.scoring_func == "sigmoid") {
    for (float& s : scores) s = 1.f / (1.f + std::exp(-s));
  } else {
    const float max = *std::max_element(scores.begin(), scores.end());
    float sum = 0.f;
    for (float& s : scores) sum += (s = std::exp(s - max));
    for (float& s : scores) s /= sum;
  }

  std::vector<float> choice = scores;
  if (!bias.empty())
    for (int e = 0; e < E; ++e) choice[e] += bias[e];

  if (c.topk_method != "greedy" && c.n_group > 1) {
    const int per_group = E / c.n_group;
    std::vector<float> group_score(c.n_group);
    for (int g = 0; g < c.n_group; ++g) {
      std::span<const float> members(choice.data() + g * per_group, per_group);
      if (c.topk_method == "noaux_tc") {
        auto best = top_indices(members, std::min(2, per_group));
        group_score[g] = 0.f;
        for (int i : best) group_score[g] += members[i];
      } else {
        group_score[g] = *std::max_element(members.begin(), members.end());
      }
    }
    std::vector<bool> kept(c.n_group, false);
    for (int g : top_indices(group_score, c.topk_group)) kept[g] = true;
    for (int e = 0; e < E; ++e)
      if (!kept[e / per_group]) choice[e] = -std::numeric_limits<float>::infinity();
  }

  std::vector<ExpertChoice> chosen;
  float sum = 0.f;
  for (int e : top_indices(choice, c.num_experts_per_tok)) {
    chosen.push_back({e, scores[e]});
    sum += scores[e];
  }
  const bool v2_semantics = c.model_type == "deepseek_v2";
  const bool normalise = c.norm_topk_prob && c.num_experts_per_tok > 1;
  for (auto& ch : chosen) {
    if (normalise) ch.weight /= (sum + 1e-20f);
    if (!v2_semantics || !normalise) ch.weight *= static_cast<float>(c.routed_scaling_factor);
  }
  return chosen;
}

}  // namespace tide
