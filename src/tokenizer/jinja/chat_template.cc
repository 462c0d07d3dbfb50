#include "tokenizer/jinja/chat_template.h"

#include <array>

#include "common/error.h"
#include "common/json_file.h"
#include "common/paths.h"
#include "tokenizer/jinja/value_json.h"

namespace tide {
namespace {

using jinja::Dict;
using jinja::Value;

// Variables apply_chat_template sets itself; a caller's extra variables may not replace them.
constexpr std::array<std::string_view, 4> kReservedVariables = {"messages", "tools", "documents",
                                                                "add_generation_prompt"};

template <typename Json>
std::string join_text_parts(const Json& parts, size_t message_index) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Json& part = parts[i];
    const auto type = part.is_object() ? part.find("type") : part.end();
    const auto body = part.is_object() ? part.find("text") : part.end();
    if (type == part.end() || !type->is_string() || *type != "text" || body == part.end() || !body->is_string()) {
      fail("chat message {}: content part {} is not a {{\"type\": \"text\", \"text\": ...}} object", message_index, i);
    }
    if (i > 0) text += '\n';
    text += body->template get<std::string>();
  }
  return text;
}

template <typename Json>
Value messages_value(const Json& messages) {
  if (!messages.is_array()) fail("chat messages must be a JSON array, not {}", messages.type_name());
  std::vector<Value> items;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& message = messages[i];
    if (!message.is_object()) fail("chat message {} must be a JSON object, not {}", i, message.type_name());
    Dict fields;
    for (const auto& [key, field] : message.items()) {
      const bool text_parts = key == "content" && field.is_array();
      fields.set(key, text_parts ? Value::string(join_text_parts(field, i)) : jinja::from_json(field));
    }
    items.push_back(Value::dict(std::move(fields)));
  }
  return Value::list(std::move(items));
}

std::optional<std::string> token_text(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  fail("'{}' must be a string or an object with a string 'content'", key);
}

}  // namespace

ChatTemplate::ChatTemplate(jinja::Template default_template, std::optional<jinja::Template> tool_use_template,
                           std::optional<std::string> bos_token, std::optional<std::string> eos_token)
    : default_template_(std::move(default_template)),
      tool_use_template_(std::move(tool_use_template)),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)) {}

ChatTemplate ChatTemplate::from_tokenizer_config(const std::filesystem::path& tokenizer_config_json) {
  const nlohmann::json config = read_json_file(tokenizer_config_json);
  const std::string origin = tokenizer_config_json.string();
  try {
    std::string default_source;
    std::optional<std::string> tool_use_source;
    const auto it = config.find("chat_template");
    const std::filesystem::path sibling = tokenizer_config_json.parent_path() / "chat_template.jinja";
    if (it == config.end() || it->is_null()) {
      if (!path_exists(sibling)) fail("no 'chat_template' (and no chat_template.jinja beside it)");
      default_source = read_text_file(sibling);
    } else if (it->is_string()) {
      default_source = it->get<std::string>();
    } else if (it->is_array()) {
      bool has_default = false;
      for (const auto& entry : *it) {
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
            !entry["template"].is_string()) {
          fail("'chat_template' list entries must be {{\"name\": ..., \"template\": ...}} objects");
        }
        const std::string name = entry["name"].get<std::string>();
        if (name == "default") {
          default_source = entry["template"].get<std::string>();
          has_default = true;
        } else if (name == "tool_use") {
          tool_use_source = entry["template"].get<std::string>();
        }
      }
      if (!has_default) fail("the 'chat_template' list has no 'default' template");
    } else {
      fail("'chat_template' must be a string or a list of named templates");
    }
    std::optional<jinja::Template> tool_use;
    if (tool_use_source) tool_use = jinja::Template::parse(*tool_use_source, "chat_template[tool_use]");
    return ChatTemplate(jinja::Template::parse(default_source, "chat_template"), std::move(tool_use),
                        token_text(config, "bos_token"), token_text(config, "eos_token"));
  } catch (const Error& error) {
    fail("{}: {}", origin, error.what());
  }
}

ChatTemplate ChatTemplate::from_source(std::string template_source, std::string bos_token, std::string eos_token) {
  return ChatTemplate(jinja::Template::parse(template_source, "chat_template"), std::nullopt, std::move(bos_token),
                      std::move(eos_token));
}

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt, const nlohmann::json& tools,
                                 const nlohmann::json& extra) const {
  return render_json(messages, add_generation_prompt, tools, extra);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& tools, const nlohmann::ordered_json& extra) const {
  return render_json(messages, add_generation_prompt, tools, extra);
}

// The variables transformers passes: the special tokens, then the caller's extra variables
// (which may replace them), then messages, tools, documents and add_generation_prompt.
template <typename Json>
std::string ChatTemplate::render_json(const Json& messages, bool add_generation_prompt, const Json& tools,
                                      const Json& extra) const {
  Dict context;
  try {
    if (bos_token_) context.set("bos_token", Value::string(*bos_token_));
    if (eos_token_) context.set("eos_token", Value::string(*eos_token_));
    if (!extra.is_null() && !extra.is_object()) fail("extra template variables must be a JSON object");
    if (extra.is_object()) {
      for (const auto& [name, value] : extra.items()) {
        for (std::string_view reserved : kReservedVariables) {
          if (name == reserved) fail("extra template variable '{}' would replace the chat input", name);
        }
        context.set(name, jinja::from_json(value));
      }
    }
    if (!tools.is_null() && !tools.is_array()) fail("tools must be a JSON array or null, not {}", tools.type_name());
    context.set("messages", messages_value(messages));
    context.set("tools", jinja::from_json(tools));
    context.set("documents", Value::none());
    context.set("add_generation_prompt", Value::boolean(add_generation_prompt));
  } catch (const Error& error) {
    fail("chat request: {}", error.what());
  }
  const bool use_tool_template = !tools.is_null() && tool_use_template_;
  return (use_tool_template ? *tool_use_template_ : default_template_).render(context);
}

}  // namespace tide
