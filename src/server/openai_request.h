#pragma once
// OpenAI request bodies (/v1/completions and /v1/chat/completions) parsed into one typed,
// validated struct, and that struct mapped to the engine's GenerationRequests. Every problem is
// an ApiError(400) naming the field, so a client learns exactly what to fix.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/request.h"

namespace tide::server {

enum class Endpoint { Completions, ChatCompletions };

// Limits the server sets on what one request may ask for.
struct RequestLimits {
  int max_n = 16;          // choices per prompt
  int max_choices = 64;    // prompts × n
  int max_stop = 16;       // stop strings
  int max_stop_bytes = 1024;
  int max_logprobs = 20;
};

// One completion prompt: text (tokenized with special tokens) or token ids as given.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct OpenAiRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;  // empty: the served model

  std::vector<Prompt> prompts;                           // completions
  nlohmann::ordered_json messages;                       // chat; text-part lists joined to strings
  nlohmann::ordered_json tools;                          // chat; null when absent
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs

  SamplingParams sampling;
  std::optional<int> max_tokens;  // absent: 16 for completions, the rest of the context for chat
  int n = 1;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  float presence_penalty = 0.f;
  float frequency_penalty = 0.f;
  float repetition_penalty = 1.f;
  int top_logprobs = -1;  // -1: no logprobs; else the sampled token plus this many alternatives
  int priority = 0;

  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// `body` must be the parsed request JSON. Throws ApiError(400).
OpenAiRequest parse_openai_request(Endpoint endpoint, const nlohmann::ordered_json& body,
                                   const RequestLimits& limits = {});

// What bounds max_tokens when a request sets none.
struct TokenBudget {
  int context_length = 0;  // the model's
  int max_tokens_cap = 0;  // the server's cap; 0: none
};

// One engine request per choice, in OpenAI's choice order: for prompt p and choice i of n,
// choice index p·n + i. `prompt_ids[p]` are prompt p's tokens. With a seed, choice i of each
// prompt gets seed + i, so n > 1 gives n different but reproducible answers. Without max_tokens,
// completions get 16 (OpenAI's default) and chat the rest of the context, within the cap.
std::vector<GenerationRequest> make_generation_requests(const OpenAiRequest& request,
                                                        const std::vector<std::vector<int32_t>>& prompt_ids,
                                                        const std::string& request_id, const TokenBudget& budget);

}  // namespace tide::server
