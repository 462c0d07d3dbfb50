#pragma once
// The OpenAI-compatible wire format as the benchmark needs it: request bodies for
// /v1/completions and /v1/chat/completions, and what a response or a streamed chunk says
// (did it carry generated text, token usage, an error). Tide, vLLM and SGLang speak it alike.
#include <optional>
#include <string>
#include <string_view>

#include "bench/workload.h"

namespace tide::bench {

enum class Endpoint { completions, chat };

Endpoint parse_endpoint(std::string_view name);  // throws tide::Error naming --endpoint
const char* endpoint_path(Endpoint endpoint);

// max_tokens = the request's output length with ignore_eos, so the server generates exactly that
// many tokens (Tide, vLLM and SGLang honour ignore_eos; other servers may stop early, which the
// usage then shows). Streams ask for a final usage chunk.
// temperature: sent as it is (0 is greedy, as vLLM's and SGLang's serving benchmarks send by default).
std::string request_body(Endpoint endpoint, const std::string& model, const RequestSpec& request, bool stream,
                         double temperature = 0);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::optional<int> cached_tokens;  // prompt_tokens_details.cached_tokens, when the server reports it
};

// One `data:` payload of a stream.
struct StreamEvent {
  bool done = false;     // [DONE]
  bool content = false;  // carries generated text (answer or reasoning): one or more tokens
  std::optional<Usage> usage;
  std::optional<std::string> error;  // an error object sent mid-stream
};

// Throws tide::Error when `data` is neither [DONE] nor a JSON object.
StreamEvent parse_stream_event(std::string_view data);

// The usage of a whole (non-streamed) response; throws tide::Error if it is not JSON.
std::optional<Usage> parse_response_usage(std::string_view body);

// The first model id of a GET /v1/models answer; throws tide::Error if there is none.
std::string first_model_id(std::string_view body);

}  // namespace tide::bench
