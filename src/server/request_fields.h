#pragma once
// Typed access to the fields of a request JSON object, each failure a 400 naming the field.
// A field set to null counts as absent, as OpenAI's SDKs send null for unset options.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace tide::server {

class RequestFields {
 public:
  using Json = nlohmann::ordered_json;
  explicit RequestFields(const Json& object);

  // The field, or nullptr when absent or null.
  const Json* get(const char* name) const;
  std::optional<double> number(const char* name, double min, double max) const;
  // Accepts integral JSON numbers, including 3.0.
  std::optional<int64_t> integer(const char* name, int64_t min, int64_t max) const;
  std::optional<bool> boolean(const char* name) const;
  std::optional<std::string> string(const char* name) const;

 private:
  const Json& object_;
};

// The name of a JSON value's type for messages ("a string", "an array", ...).
const char* json_type_name(const nlohmann::ordered_json& value);

// Reads an integral JSON number; nullopt when `value` is not one (or does not fit int64).
std::optional<int64_t> json_integer(const nlohmann::ordered_json& value);

}  // namespace tide::server
