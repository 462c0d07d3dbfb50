#pragma once
// Per-request sampling settings, with the meanings of OpenAI's and vLLM's parameters.
#include <cstdint>
#include <optional>

namespace tide {

struct SamplingParams {
  float temperature = 1.0f;  // 0 selects greedy decoding
  int top_k = 0;             // 0 or negative: no limit
  float top_p = 1.0f;        // nucleus: smallest set of tokens whose probability reaches top_p
  float min_p = 0.0f;        // drop tokens below min_p × the most likely token's probability
  std::optional<uint64_t> seed;

  bool greedy() const { return temperature <= 0.0f || top_k == 1; }
};

// Throws tide::Error naming the parameter when a value is outside its documented range.
void validate(const SamplingParams& params);

}  // namespace tide
