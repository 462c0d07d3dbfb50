#pragma once
// What happens to one row of logits between the model and the sampler: OpenAI's presence and
// frequency penalties over the generated tokens, the repetition penalty (as in transformers and
// vLLM) over prompt and generated tokens, and log-probabilities for the client.
#include <span>
#include <vector>

#include "engine/request.h"

namespace tide {

// Penalised copy of `logits`; returns the input unchanged when no penalty is set.
std::vector<float> apply_penalties(std::span<const float> logits, std::span<const int32_t> prompt,
                                   std::span<const int32_t> generated, const GenerationRequest& request);

// The log-probability of `token` and of the `top` most likely tokens, from raw logits.
TokenLogprob logprobs_of(std::span<const float> logits, int32_t token, int top);

}  // namespace tide
