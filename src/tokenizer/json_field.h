#pragma once
// Typed access to tokenizer.json / tokenizer_config.json values. Every complaint names the file
// and the dotted path of the field ("tokenizer.json: model.merges[7]: ..."), and no nlohmann
// exception ever leaves: wrong types become tide::Error.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tide::tokenizer {

class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string_view origin, std::string path = "");

  const nlohmann::json& json() const { return *value_; }
  // "origin: path", for messages about this value produced elsewhere.
  std::string location() const;

  // A member that must be present (it may still be null).
  JsonField operator[](std::string_view key) const;
  // A member that may be absent; absent and null both give nullopt.
  std::optional<JsonField> find(std::string_view key) const;
  JsonField element(size_t index) const;
  size_t array_size() const;
  void require_object() const;

  std::string_view as_string() const;
  bool as_bool() const;
  int64_t as_integer() const;
  // A token id: an integer in [0, kMaxTokenId].
  int32_t as_token_id() const;

  std::optional<std::string_view> optional_string(std::string_view key) const;
  bool optional_bool(std::string_view key, bool fallback) const;

  [[noreturn]] void fail(std::string_view message) const;
  // For a part of this value that has no JsonField of its own: "origin: path.subpath: message".
  [[noreturn]] void fail_at(std::string_view subpath, std::string_view message) const;

 private:
  JsonField child(const nlohmann::json& value, std::string path) const;

  const nlohmann::json* value_;
  std::string_view origin_;
  std::string path_;
};

// Ids index dense per-token tables; capping them keeps a corrupt file from asking for gigabytes.
inline constexpr int32_t kMaxTokenId = (1 << 24) - 1;

std::string_view json_type_name(const nlohmann::json& value);

}  // namespace tide::tokenizer
