#include "gateway/proxy/request_inspector.h"

#include <fmt/format.h>

#include <random>

#include "server/api_error.h"
#include "server/json_body.h"

namespace tide::gateway {
namespace {

using Json = nlohmann::ordered_json;

// Routing looks at the prompt's beginning only; bounded so a huge prompt costs no more.
constexpr std::size_t kPrefixChars = 8192;

void append_bounded(std::string& out, std::string_view text) {
  if (out.size() >= kPrefixChars) return;
  out.append(text.substr(0, kPrefixChars - out.size()));
}

void append_prompt(std::string& out, const Json& prompt) {
  if (prompt.is_string()) return append_bounded(out, prompt.get_ref<const std::string&>());
  if (!prompt.is_array()) server::invalid_param("prompt", "prompt must be a string or an array");
  if (prompt.empty()) return;
  const Json& first = prompt.front();
  if (first.is_string()) return append_bounded(out, first.get_ref<const std::string&>());
  if (first.is_number_integer()) {
    for (const auto& id : prompt) {
      if (!id.is_number_integer()) server::invalid_param("prompt", "a token-id prompt holds integers only");
      append_bounded(out, fmt::format("{},", id.get<int64_t>()));
    }
    return;
  }
  if (first.is_array()) return append_prompt(out, first);
  server::invalid_param("prompt", "prompt must be a string, strings, token ids or lists of token ids");
}

void append_messages(std::string& out, const Json& messages) {
  if (!messages.is_array()) server::invalid_param("messages", "messages must be an array");
  for (const auto& m : messages) {
    if (!m.is_object()) server::invalid_param("messages", "each message must be an object");
    if (auto role = m.find("role"); role != m.end() && role->is_string()) {
      append_bounded(out, role->get_ref<const std::string&>());
      append_bounded(out, ":");
    }
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) continue;
    if (content->is_string()) {
      append_bounded(out, content->get_ref<const std::string&>());
    } else if (content->is_array()) {
      for (const auto& part : *content)
        if (part.is_object())
          if (auto text = part.find("text"); text != part.end() && text->is_string())
            append_bounded(out, text->get_ref<const std::string&>());
    }
    append_bounded(out, "\n");
  }
}

}  // namespace

RequestTraits inspect_generation_request(std::string_view body, int max_json_depth) {
  const Json json = server::parse_json_body(body, max_json_depth);
  if (!json.is_object()) throw server::ApiError(400, "the request body must be a JSON object");
  RequestTraits traits;
  if (auto model = json.find("model"); model != json.end()) {
    if (!model->is_string()) server::invalid_param("model", "model must be a string");
    traits.model = model->get<std::string>();
  }
  if (auto stream = json.find("stream"); stream != json.end() && !stream->is_null()) {
    if (!stream->is_boolean()) server::invalid_param("stream", "stream must be a boolean");
    traits.stream = stream->get<bool>();
  }
  if (auto user = json.find("user"); user != json.end() && !user->is_null()) {
    if (!user->is_string()) server::invalid_param("user", "user must be a string");
    traits.user = user->get<std::string>();
  }
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto value = json.find(field);
    if (value == json.end() || value->is_null()) continue;
    if (!value->is_number_integer()) server::invalid_param(field, "{} must be an integer", field);
    traits.max_tokens = std::max<int64_t>(traits.max_tokens, value->get<int64_t>());
  }
  if (auto priority = json.find("priority"); priority != json.end() && !priority->is_null()) {
    if (!priority->is_number_integer()) server::invalid_param("priority", "priority must be an integer");
    traits.priority = static_cast<int>(std::clamp<int64_t>(priority->get<int64_t>(), INT32_MIN, INT32_MAX));
  }
  if (auto messages = json.find("messages"); messages != json.end()) append_messages(traits.prefix_text, *messages);
  if (auto prompt = json.find("prompt"); prompt != json.end()) append_prompt(traits.prefix_text, *prompt);
  return traits;
}

std::string request_id_from(std::string_view client_value) {
  const bool usable = !client_value.empty() && client_value.size() <= 128 &&
                      std::all_of(client_value.begin(), client_value.end(), [](char c) {
                        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               c == '-' || c == '_' || c == '.' || c == ':';
                      });
  if (usable) return std::string(client_value);
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("gw-{:016x}", random());
}

}  // namespace tide::gateway
