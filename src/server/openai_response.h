#pragma once
// The JSON the OpenAI API returns, built from what the engine produced: whole responses
// (`text_completion`, `chat.completion`), stream chunks (`text_completion` and
// `chat.completion.chunk`), usage, and log-probabilities in both APIs' formats.
//
// Finish reasons: the engine's Stop and Length are OpenAI's "stop" and "length". A deadline
// that ran out cut the output short the way a token limit does, so it is "length" too. A request
// cancelled by the server (shutdown after the drain timeout) is "abort", vLLM's word for it; an
// engine failure is "error".
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/openai_request.h"
#include "tokenizer/tokenizer.h"

namespace tide::server {

const char* openai_finish_reason(FinishReason reason);

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
};

// What one choice produced, for a non-streamed response.
struct ChoiceOutput {
  std::string text;                      // completion text, or the chat answer
  std::optional<std::string> reasoning;  // chat with a reasoning parser: the reasoning
  std::vector<TokenLogprob> logprobs;    // when asked for
  bool want_logprobs = false;
  FinishReason finish = FinishReason::Stop;
};

// Identity shared by every JSON object of one response.
struct ResponseMeta {
  std::string id;  // cmpl-... or chatcmpl-...
  int64_t created = 0;  // Unix seconds
  std::string model;
};

nlohmann::ordered_json usage_json(const Usage& usage);

// Non-streamed responses; choices are in index order.
nlohmann::ordered_json completion_response(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                                   const Usage& usage, const tokenizer::Tokenizer& tokenizer);
nlohmann::ordered_json chat_response(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Usage& usage,
                             const tokenizer::Tokenizer& tokenizer);

// One stream chunk for choice `index`. `logprobs` is null or built by the *_logprobs functions.
nlohmann::ordered_json completion_chunk(const ResponseMeta& meta, int index, const std::string& text,
                                nlohmann::ordered_json logprobs, std::optional<FinishReason> finish);
// `delta` is the chat delta object ({"role"}, {"content"}, {"reasoning_content"}, or {}).
nlohmann::ordered_json chat_chunk(const ResponseMeta& meta, int index, nlohmann::ordered_json delta, nlohmann::ordered_json logprobs,
                          std::optional<FinishReason> finish);
// The last chunk when stream_options.include_usage is set: no choices, only usage.
nlohmann::ordered_json usage_chunk(const ResponseMeta& meta, Endpoint endpoint, const Usage& usage);

// Completions' format: {tokens, token_logprobs, top_logprobs, text_offset}; `text_offset` is
// where the first token's text starts in the choice's whole text.
nlohmann::ordered_json completion_logprobs(const std::vector<TokenLogprob>& logprobs, const tokenizer::Tokenizer& tokenizer,
                                   std::size_t text_offset);
// How many bytes a token adds to the output text: special tokens (EOS, tool markers) are
// dropped from the text, so they add none.
std::size_t token_text_bytes(const tokenizer::Tokenizer& tokenizer, int32_t id);
// Chat's format: {content: [{token, logprob, bytes, top_logprobs: [...]}]}.
nlohmann::ordered_json chat_logprobs(const std::vector<TokenLogprob>& logprobs, const tokenizer::Tokenizer& tokenizer);

// The serialization used for every response: invalid UTF-8 (a token's partial character) is
// replaced, never an exception.
std::string dump_json(const nlohmann::ordered_json& value);

}  // namespace tide::server
