#include "tokenizer/json_field.h"

#include "common/error.h"

namespace tide::tokenizer {

std::string_view json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a floating-point number";
    default: return "binary data";
  }
}

JsonField::JsonField(const nlohmann::json& value, std::string_view origin, std::string path)
    : value_(&value), origin_(origin), path_(std::move(path)) {}

JsonField JsonField::child(const nlohmann::json& value, std::string path) const {
  return JsonField(value, origin_, std::move(path));
}

void JsonField::fail(std::string_view message) const {
  if (path_.empty()) tide::fail("{}: {}", origin_, message);
  tide::fail("{}: {}: {}", origin_, path_, message);
}

std::string JsonField::location() const {
  return path_.empty() ? std::string(origin_) : fmt::format("{}: {}", origin_, path_);
}

void JsonField::fail_at(std::string_view subpath, std::string_view message) const {
  if (path_.empty()) tide::fail("{}: {}: {}", origin_, subpath, message);
  tide::fail("{}: {}.{}: {}", origin_, path_, subpath, message);
}

void JsonField::require_object() const {
  if (!value_->is_object()) fail(fmt::format("expected an object, got {}", json_type_name(*value_)));
}

JsonField JsonField::operator[](std::string_view key) const {
  require_object();
  const auto it = value_->find(key);
  const std::string path = path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  if (it == value_->end()) tide::fail("{}: missing field \"{}\"", origin_, path);
  return child(*it, path);
}

std::optional<JsonField> JsonField::find(std::string_view key) const {
  require_object();
  const auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return child(*it, path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key));
}

size_t JsonField::array_size() const {
  if (!value_->is_array()) fail(fmt::format("expected an array, got {}", json_type_name(*value_)));
  return value_->size();
}

JsonField JsonField::element(size_t index) const {
  if (index >= array_size()) fail(fmt::format("no element {}", index));
  return child((*value_)[index], fmt::format("{}[{}]", path_, index));
}

std::string_view JsonField::as_string() const {
  if (!value_->is_string()) fail(fmt::format("expected a string, got {}", json_type_name(*value_)));
  return value_->get_ref<const std::string&>();
}

bool JsonField::as_bool() const {
  if (!value_->is_boolean()) {
    fail(fmt::format("expected true or false, got {}", json_type_name(*value_)));
  }
  return value_->get<bool>();
}

int64_t JsonField::as_integer() const {
  if (value_->is_number_unsigned()) {
    const auto value = value_->get<uint64_t>();
    if (value > static_cast<uint64_t>(INT64_MAX)) fail(fmt::format("{} is too large", value));
    return static_cast<int64_t>(value);
  }
  if (!value_->is_number_integer()) {
    fail(fmt::format("expected an integer, got {}", json_type_name(*value_)));
  }
  return value_->get<int64_t>();
}

int32_t JsonField::as_token_id() const {
  const int64_t id = as_integer();
  if (id < 0 || id > kMaxTokenId) {
    fail(fmt::format("token id {} is out of range (ids must be in 0..{})", id, kMaxTokenId));
  }
  return static_cast<int32_t>(id);
}

std::optional<std::string_view> JsonField::optional_string(std::string_view key) const {
  const std::optional<JsonField> field = find(key);
  if (!field) return std::nullopt;
  return field->as_string();
}

bool JsonField::optional_bool(std::string_view key, bool fallback) const {
  const std::optional<JsonField> field = find(key);
  return field ? field->as_bool() : fallback;
}

}  // namespace tide::tokenizer
