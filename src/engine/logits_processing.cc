#include "engine/logits_processing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace tide {

std::vector<float> apply_penalties(std::span<const float> logits, std::span<const int32_t> prompt,
                                   std::span<const int32_t> generated, const GenerationRequest& r) {
  std::vector<float> out(logits.begin(), logits.end());
  if (r.repetition_penalty != 1.f) {
    auto penalise = [&](int32_t t) {
      float& v = out[t];
      v = v > 0 ? v / r.repetition_penalty : v * r.repetition_penalty;
    };
    std::vector<bool> seen(out.size(), false);
    for (auto span : {prompt, generated})
      for (int32_t t : span)
        if (!seen[t]) {
          seen[t] = true;
          penalise(t);
        }
  }
  if (r.presence_penalty != 0.f || r.frequency_penalty != 0.f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : generated) counts[t]++;
    for (auto [t, n] : counts) out[t] -= r.frequency_penalty * static_cast<float>(n) + r.presence_penalty;
  }
  return out;
}

TokenLogprob logprobs_of(std::span<const float> logits, int32_t token, int top) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const float log_z = max + static_cast<float>(std::log(sum));
  TokenLogprob result{token, logits[token] - log_z, {}};
  if (top > 0) {
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    const auto k = std::min<std::size_t>(static_cast<std::size_t>(top), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (std::size_t i = 0; i < k; ++i) result.top.push_back({ids[i], logits[ids[i]] - log_z});
  }
  return result;
}

}  // namespace tide
