#include "model/deepseek/moe.h"

#include <fmt/format.h>

#include "backend/cpu/ops.h"
#include "model/deepseek/moe_router.h"

namespace tide {

MoeBlock::MoeBlock(WeightLoader& loader, const ModelConfig& c, int layer) : c_(c) {
  const std::string p = fmt::format("model.layers.{}.mlp.", layer);
  router_ = loader.exact(p + "gate.weight", c.n_routed_experts, c.hidden_size);
  if (c.topk_method == "noaux_tc") bias_ = loader.vector(p + "gate.e_score_correction_bias", c.n_routed_experts);
  for (int e = 0; e < c.n_routed_experts; ++e)
    experts_.push_back(GatedMlp::load(loader, p + fmt::format("experts.{}", e), c.hidden_size, c.moe_intermediate_size));
  if (c.n_shared_experts > 0)
    shared_ = GatedMlp::load(loader, p + "shared_experts", c.hidden_size,
                             static_cast<int64_t>(c.moe_intermediate_size) * c.n_shared_experts);
}

MoeBlock::Routes MoeBlock::route(const float* h, int64_t T) const {
  const int64_t E = c_.n_routed_experts;
  std::vector<float> logits(T * E);
  cpu::matmul(h, T, router_, logits.data());
  Routes routes(E);
  for (int64_t t = 0; t < T; ++t)
    for (const ExpertChoice& ch : route_token({logits.data() + t * E, static_cast<std::size_t>(E)}, bias_, c_))
      routes[ch.expert].push_back({t, ch.weight});
  return routes;
}

void MoeBlock::experts(const float* h, int64_t T, const Routes& routes, float* out) const {
  const int64_t D = c_.hidden_size, E = c_.n_routed_experts;
  if (shared_)
    shared_->forward(h, T, out);
  else
    std::fill(out, out + T * D, 0.f);

  std::vector<float> x, y;
  for (int64_t e = 0; e < E; ++e) {
    const auto& tokens = routes[e];
    if (tokens.empty()) continue;
    const int64_t n = static_cast<int64_t>(tokens.size());
    x.resize(n * D);
    y.resize(n * D);
    for (int64_t i = 0; i < n; ++i) std::copy_n(h + tokens[i].first * D, D, x.data() + i * D);
    experts_[e].forward(x.data(), n, y.data());
    for (int64_t i = 0; i < n; ++i) {
      float* dst = out + tokens[i].first * D;
      const float w = tokens[i].second;
      for (int64_t d = 0; d < D; ++d) dst[d] += w * y[i * D + d];
    }
  }
}

}  // namespace tide
