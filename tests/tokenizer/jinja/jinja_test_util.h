#pragma once
// Shared helpers for the template tests: render a template source against a JSON context.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/template.h"
#include "tokenizer/jinja/value_json.h"

namespace tide::jinja::testing {

inline std::string render(std::string_view source, const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                          const Limits& limits = {}) {
  return Template::parse(source, "t").render(from_json(context).as_dict(), limits);
}

// The message of the tide::Error that parsing or rendering throws, or "" when none is thrown.
inline std::string error_of(std::string_view source, const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                            const Limits& limits = {}) {
  try {
    render(source, context, limits);
  } catch (const tide::Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace tide::jinja::testing
