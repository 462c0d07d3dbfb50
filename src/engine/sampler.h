#pragma once
// Token selection from one row of logits: greedy, or temperature → top-k → top-p → min-p over
// the softmax, then one draw from a per-request generator. The same seed gives the same tokens
// on every machine (splitmix64 and explicit floating-point steps, no std distributions).
#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampling_params.h"

namespace tide {

class Sampler {
 public:
  // Without params.seed, `fallback_seed` seeds the generator (the engine draws one per request).
  Sampler(const SamplingParams& params, uint64_t fallback_seed);

  int32_t sample(std::span<const float> logits);
  // The seed the generator started from (the request's, or the fallback).
  uint64_t seed() const { return seed_; }

 private:
  double next_uniform();

  SamplingParams params_;
  uint64_t seed_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused across steps
};

}  // namespace tide
