#include "server/request_fields.h"

#include <cmath>

#include "server/api_error.h"

namespace tide::server {

const char* json_type_name(const nlohmann::ordered_json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

std::optional<int64_t> json_integer(const nlohmann::ordered_json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double v = value.get<double>();
    // Strictly inside int64's range: 2^63 itself is a double that does not fit.
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.2e18) return static_cast<int64_t>(v);
  }
  return std::nullopt;
}

RequestFields::RequestFields(const Json& object) : object_(object) {}

const RequestFields::Json* RequestFields::get(const char* name) const {
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> RequestFields::number(const char* name, double min, double max) const {
  const Json* value = get(name);
  if (!value) return std::nullopt;
  if (!value->is_number()) invalid_param(name, "'{}' must be a number, got {}", name, json_type_name(*value));
  const double v = value->get<double>();
  if (!(v >= min && v <= max)) invalid_param(name, "'{}' must be between {} and {}, got {}", name, min, max, v);
  return v;
}

std::optional<int64_t> RequestFields::integer(const char* name, int64_t min, int64_t max) const {
  const Json* value = get(name);
  if (!value) return std::nullopt;
  const auto v = json_integer(*value);
  if (!v) invalid_param(name, "'{}' must be an integer, got {}", name, value->is_number() ? value->dump() : json_type_name(*value));
  if (*v < min || *v > max) invalid_param(name, "'{}' must be between {} and {}, got {}", name, min, max, *v);
  return v;
}

std::optional<bool> RequestFields::boolean(const char* name) const {
  const Json* value = get(name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) invalid_param(name, "'{}' must be true or false, got {}", name, json_type_name(*value));
  return value->get<bool>();
}

std::optional<std::string> RequestFields::string(const char* name) const {
  const Json* value = get(name);
  if (!value) return std::nullopt;
  if (!value->is_string()) invalid_param(name, "'{}' must be a string, got {}", name, json_type_name(*value));
  return value->get<std::string>();
}

}  // namespace tide::server
