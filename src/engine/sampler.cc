#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace tide {

void validate(const SamplingParams& p) {
  if (!(p.temperature >= 0.f) || p.temperature > 100.f) fail("temperature must be in [0, 100], got {}", p.temperature);
  if (!(p.top_p > 0.f && p.top_p <= 1.f)) fail("top_p must be in (0, 1], got {}", p.top_p);
  if (!(p.min_p >= 0.f && p.min_p <= 1.f)) fail("min_p must be in [0, 1], got {}", p.min_p);
}

Sampler::Sampler(const SamplingParams& params, uint64_t fallback_seed)
    : params_(params), seed_(params.seed.value_or(fallback_seed)), state_(seed_) {
  validate(params_);
}

double Sampler::next_uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (params_.greedy()) {
    // First maximum, as torch.argmax: ties go to the lower id.
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const int32_t vocab = static_cast<int32_t>(logits.size());
  candidates_.clear();
  const float inv_t = 1.f / params_.temperature;
  for (int32_t i = 0; i < vocab; ++i)
    if (std::isfinite(logits[i])) candidates_.push_back({logits[i] * inv_t, i});
  if (candidates_.empty()) fail("every logit is -inf or NaN; nothing can be sampled");

  // Order matters only for top-k, top-p and min-p; plain temperature sampling draws from the
  // unsorted distribution instead of sorting 129k logits per token.
  const bool needs_order = params_.top_k > 0 || params_.top_p < 1.f || params_.min_p > 0.f;
  if (needs_order) {
    const std::size_t k =
        params_.top_k > 0 ? std::min<std::size_t>(params_.top_k, candidates_.size()) : candidates_.size();
    auto by_logit = [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                      by_logit);
    candidates_.resize(k);
  }

  float max = candidates_.front().first;
  for (const auto& c : candidates_) max = std::max(max, c.first);
  double total = 0;
  for (auto& c : candidates_) total += (c.first = std::exp(c.first - max));
  for (auto& c : candidates_) c.first = static_cast<float>(c.first / total);

  if (params_.top_p < 1.f) {
    double cumulative = 0;
    std::size_t keep = 0;
    while (keep < candidates_.size()) {
      cumulative += candidates_[keep++].first;
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(keep);
  }
  if (params_.min_p > 0.f) {
    const float floor = params_.min_p * candidates_.front().first;  // sorted: front is the most likely
    auto end = std::find_if(candidates_.begin(), candidates_.end(), [&](const auto& c) { return c.first < floor; });
    candidates_.erase(end, candidates_.end());
  }

  double mass = 0;
  for (const auto& c : candidates_) mass += c.first;
  double target = next_uniform() * mass;
  for (const auto& c : candidates_) {
    target -= c.first;
    if (target < 0) return c.second;
  }
  return candidates_.back().second;
}

}  // namespace tide
