#pragma once
// The bridge between JSON and template values. Requests arrive as JSON; tool schemas go back
// out through `tojson`, whose text is part of the prompt, so it must match Python's json.dumps
// byte for byte (separators ", " and ": ", non-ASCII kept, floats as Python prints them).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/value.h"
#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {

// The options of json.dumps that templates pass through tojson.
struct JsonStyle {
  std::optional<std::string> indent;  // none: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};

std::string to_json(const Value& value, const JsonStyle& style, Budget& budget);

// Works for nlohmann::json and nlohmann::ordered_json alike; only the latter keeps the key order
// of the request, which `tojson` then reproduces.
template <typename Json>
Value from_json(const Json& json, int depth = 0) {
  if (depth > Value::kMaxNesting) value_fail("JSON input nested more than {} levels deep", Value::kMaxNesting);
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto value = json.template get<uint64_t>();
      if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::integer(static_cast<int64_t>(value));
      }
      return Value::floating(static_cast<double>(value));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(json.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict dict;
      for (const auto& [key, item] : json.items()) dict.set(key, from_json(item, depth + 1));
      return Value::dict(std::move(dict));
    }
    default: value_fail("JSON value of type '{}' has no template equivalent", json.type_name());
  }
}

}  // namespace tide::jinja
