#include "server/openai_response.h"

#include <fmt/format.h>

#include "tokenizer/utf8.h"

namespace tide::server {
namespace {

using json = nlohmann::ordered_json;

// A token as text for logprobs. A token holding part of a multi-byte character has no text of
// its own; it is shown as "bytes:\xNN..." (vLLM's convention), its raw bytes being in `bytes`.
std::string token_string(const tokenizer::Tokenizer& tokenizer, int32_t id) {
  if (!tokenizer.names(id)) return {};  // a padding row of the model's vocabulary
  const std::string_view bytes = tokenizer.token_bytes(id);
  if (tokenizer::is_valid_utf8(bytes)) return std::string(bytes);
  std::string out = "bytes:";
  for (unsigned char c : bytes) out += fmt::format("\\x{:02x}", c);
  return out;
}

json token_bytes(const tokenizer::Tokenizer& tokenizer, int32_t id) {
  json bytes = json::array();
  if (!tokenizer.names(id)) return bytes;
  for (unsigned char c : tokenizer.token_bytes(id)) bytes.push_back(static_cast<int>(c));
  return bytes;
}

}  // namespace

std::size_t token_text_bytes(const tokenizer::Tokenizer& tokenizer, int32_t id) {
  if (!tokenizer.names(id)) return 0;
  return tokenizer.is_special(id) ? 0 : tokenizer.token_bytes(id).size();
}

namespace {

json finish_json(std::optional<FinishReason> finish) {
  return finish ? json(openai_finish_reason(*finish)) : json(nullptr);
}

json base_object(const ResponseMeta& meta, const char* object) {
  return {{"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
}

}  // namespace

const char* openai_finish_reason(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length:
    case FinishReason::Deadline: return "length";
    case FinishReason::Cancelled: return "abort";
    case FinishReason::Error: return "error";
  }
  return "error";
}

std::string dump_json(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
}

json completion_logprobs(const std::vector<TokenLogprob>& logprobs, const tokenizer::Tokenizer& tokenizer,
                         std::size_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  for (const auto& lp : logprobs) {
    const std::string token = token_string(tokenizer, lp.token);
    tokens.push_back(token);
    token_logprobs.push_back(lp.logprob);
    json alternatives = json::object();
    for (const auto& [id, logprob] : lp.top) alternatives[token_string(tokenizer, id)] = logprob;
    top.push_back(std::move(alternatives));
    offsets.push_back(text_offset);
    text_offset += token_text_bytes(tokenizer, lp.token);
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json chat_logprobs(const std::vector<TokenLogprob>& logprobs, const tokenizer::Tokenizer& tokenizer) {
  json content = json::array();
  for (const auto& lp : logprobs) {
    json top = json::array();
    for (const auto& [id, logprob] : lp.top)
      top.push_back({{"token", token_string(tokenizer, id)}, {"logprob", logprob}, {"bytes", token_bytes(tokenizer, id)}});
    content.push_back({{"token", token_string(tokenizer, lp.token)},
                       {"logprob", lp.logprob},
                       {"bytes", token_bytes(tokenizer, lp.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

json completion_response(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Usage& usage,
                         const tokenizer::Tokenizer& tokenizer) {
  json out = base_object(meta, "text_completion");
  json list = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    list.push_back({{"index", i},
                    {"text", c.text},
                    {"logprobs", c.want_logprobs ? completion_logprobs(c.logprobs, tokenizer, 0) : json(nullptr)},
                    {"finish_reason", openai_finish_reason(c.finish)}});
  }
  out["choices"] = std::move(list);
  out["usage"] = usage_json(usage);
  return out;
}

json chat_response(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Usage& usage,
                   const tokenizer::Tokenizer& tokenizer) {
  json out = base_object(meta, "chat.completion");
  json list = json::array();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    json message = {{"role", "assistant"}, {"content", c.text}};
    if (c.reasoning) message["reasoning_content"] = c.reasoning->empty() ? json(nullptr) : json(*c.reasoning);
    list.push_back({{"index", i},
                    {"message", std::move(message)},
                    {"logprobs", c.want_logprobs ? chat_logprobs(c.logprobs, tokenizer) : json(nullptr)},
                    {"finish_reason", openai_finish_reason(c.finish)}});
  }
  out["choices"] = std::move(list);
  out["usage"] = usage_json(usage);
  return out;
}

json completion_chunk(const ResponseMeta& meta, int index, const std::string& text, json logprobs,
                      std::optional<FinishReason> finish) {
  json out = base_object(meta, "text_completion");
  out["choices"] = json::array(
      {{{"index", index}, {"text", text}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_json(finish)}}});
  return out;
}

json chat_chunk(const ResponseMeta& meta, int index, json delta, json logprobs, std::optional<FinishReason> finish) {
  json out = base_object(meta, "chat.completion.chunk");
  out["choices"] = json::array({{{"index", index},
                                 {"delta", std::move(delta)},
                                 {"logprobs", std::move(logprobs)},
                                 {"finish_reason", finish_json(finish)}}});
  return out;
}

json usage_chunk(const ResponseMeta& meta, Endpoint endpoint, const Usage& usage) {
  json out = base_object(meta, endpoint == Endpoint::ChatCompletions ? "chat.completion.chunk" : "text_completion");
  out["choices"] = json::array();
  out["usage"] = usage_json(usage);
  return out;
}

}  // namespace tide::server
