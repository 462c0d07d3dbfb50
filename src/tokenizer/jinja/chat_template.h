#pragma once
// A model's chat template: turns OpenAI-style chat messages into the exact prompt text the
// model was trained on, by rendering the Jinja template from tokenizer_config.json the way
// transformers' apply_chat_template does (same variables, same whitespace rules, same tojson).
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/template.h"

namespace tide {

class ChatTemplate {
 public:
  // From tokenizer_config.json: `chat_template` is a string, or a list of {"name", "template"}
  // ("default", plus "tool_use" for requests with tools). Without a `chat_template` key, a
  // chat_template.jinja file next to it is used, as newer transformers versions save it there.
  // bos_token/eos_token are a string or an AddedToken object {"content": ...}. Throws tide::Error
  // naming the file if there is no template or it does not parse.
  static ChatTemplate from_tokenizer_config(const std::filesystem::path& tokenizer_config_json);
  static ChatTemplate from_source(std::string template_source, std::string bos_token, std::string eos_token);

  // messages: JSON array of OpenAI-style messages (role, content, tool_calls, tool_call_id, name,
  // reasoning_content, ...). A content given as a list of {"type": "text", "text": ...} parts is
  // joined with "\n" first, as OpenAI-compatible servers do for text-only templates. tools: JSON
  // array or null. extra: more template variables, e.g. {"enable_thinking": false}, date_string.
  // Throws tide::Error on template runtime errors, including the template's raise_exception().
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& tools = nullptr,
                     const nlohmann::json& extra = nlohmann::json::object()) const;
  // The same for nlohmann::ordered_json. Prefer it for requests with tools: tojson prints object
  // keys in stored order, and only ordered_json keeps the order of the request, as Python does.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& tools = nullptr,
                     const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

  bool has_tool_use_template() const { return tool_use_template_.has_value(); }

 private:
  ChatTemplate(jinja::Template default_template, std::optional<jinja::Template> tool_use_template,
               std::optional<std::string> bos_token, std::optional<std::string> eos_token);
  template <typename Json>
  std::string render_json(const Json& messages, bool add_generation_prompt, const Json& tools, const Json& extra) const;

  jinja::Template default_template_;
  std::optional<jinja::Template> tool_use_template_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
};

}  // namespace tide
