#include "bench/openai_protocol.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tide::bench {
namespace {

using json = nlohmann::json;

json parse_object(std::string_view text, const char* what) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_object()) fail("{} is not a JSON object: {}", what, text.substr(0, 200));
  return value;
}

std::optional<int> int_field(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int>();
}

// Streams carry `"usage": null` on every chunk but the last when usage was asked for.
std::optional<Usage> usage_of(const json& object) {
  const auto it = object.find("usage");
  if (it == object.end() || !it->is_object()) return std::nullopt;
  Usage usage;
  usage.prompt_tokens = int_field(*it, "prompt_tokens").value_or(0);
  usage.completion_tokens = int_field(*it, "completion_tokens").value_or(0);
  if (const auto details = it->find("prompt_tokens_details"); details != it->end() && details->is_object())
    usage.cached_tokens = int_field(*details, "cached_tokens");
  return usage;
}

bool non_empty_string(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

}  // namespace

Endpoint parse_endpoint(std::string_view name) {
  if (name == "completions") return Endpoint::completions;
  if (name == "chat") return Endpoint::chat;
  fail("--endpoint '{}': use completions or chat", name);
}

const char* endpoint_path(Endpoint endpoint) {
  return endpoint == Endpoint::chat ? "/v1/chat/completions" : "/v1/completions";
}

std::string request_body(Endpoint endpoint, const std::string& model, const RequestSpec& request, bool stream,
                         double temperature) {
  json body = {{"model", model},
               {"max_tokens", request.output_len},
               {"ignore_eos", true},
               {"stream", stream},
               {"temperature", temperature}};
  if (endpoint == Endpoint::chat) {
    body["messages"] = json::array({{{"role", "user"}, {"content", request.prompt}}});
  } else if (!request.prompt_ids.empty()) {
    body["prompt"] = request.prompt_ids;
  } else {
    body["prompt"] = request.prompt;
  }
  if (stream) body["stream_options"] = {{"include_usage", true}};
  return body.dump();
}

StreamEvent parse_stream_event(std::string_view data) {
  StreamEvent event;
  if (data == "[DONE]") {
    event.done = true;
    return event;
  }
  const json chunk = parse_object(data, "stream chunk");
  if (const auto it = chunk.find("error"); it != chunk.end() && !it->is_null()) {
    const auto message = it->is_object() ? it->find("message") : it->end();
    event.error = message != it->end() && message->is_string() ? message->get<std::string>() : it->dump();
    return event;
  }
  event.usage = usage_of(chunk);
  if (const auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
    for (const auto& choice : *choices) {
      if (!choice.is_object()) continue;
      // Completions put text in `text`; chat in `delta.content`, reasoning models also in
      // `delta.reasoning_content` (these are output tokens too). A role-only first chat chunk
      // carries no token and must not count as the first one.
      if (non_empty_string(choice, "text")) event.content = true;
      if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object())
        if (non_empty_string(*delta, "content") || non_empty_string(*delta, "reasoning_content") ||
            non_empty_string(*delta, "reasoning"))
          event.content = true;
    }
  }
  return event;
}

std::optional<Usage> parse_response_usage(std::string_view body) { return usage_of(parse_object(body, "response")); }

std::string first_model_id(std::string_view body) {
  const json models = parse_object(body, "GET /v1/models answer");
  const auto data = models.find("data");
  if (data == models.end() || !data->is_array() || data->empty() || !(*data)[0].is_object() ||
      !(*data)[0].contains("id") || !(*data)[0]["id"].is_string())
    fail("GET /v1/models lists no model; name one with --model");
  return (*data)[0]["id"].get<std::string>();
}

}  // namespace tide::bench
