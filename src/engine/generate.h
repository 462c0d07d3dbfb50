#pragma once
// Single-request generation for the CLI: prefill the prompt, then decode one token per step
// until max_tokens or an end-of-sequence token. The server drives the same model through the
// continuous-batching scheduler instead.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/sampling_params.h"
#include "model/model.h"

namespace tide {

struct GenerateOptions {
  int max_tokens = 64;
  SamplingParams sampling;
  bool stop_at_eos = true;
};

// Calls on_token for every generated token as soon as it is sampled; returns all of them.
std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& options,
                              const std::function<void(int32_t)>& on_token = {});

}  // namespace tide
