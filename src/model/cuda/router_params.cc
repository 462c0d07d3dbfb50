#include "model/cuda/router_params.h"

namespace tide::cuda {

RouterParams router_params(const ModelConfig& c) {
  RouterParams p;
  p.experts = c.n_routed_experts;
  p.top_k = c.num_experts_per_tok;
  p.scoring = c.scoring_func == "sigmoid" ? RouterParams::Scoring::Sigmoid : RouterParams::Scoring::Softmax;
  p.grouped = c.topk_method != "greedy" && c.n_group > 1;
  p.group_score = c.topk_method == "noaux_tc" ? RouterParams::GroupScore::TopTwoSum : RouterParams::GroupScore::Max;
  p.n_group = c.n_group;
  p.topk_group = c.topk_group;
  p.normalize = c.norm_topk_prob && c.num_experts_per_tok > 1;
  p.scale = c.model_type != "deepseek_v2" || !p.normalize;
  p.routed_scaling_factor = static_cast<float>(c.routed_scaling_factor);
  return p;
}

}  // namespace tide::cuda
