#include "tokenizer/tokenizer_config.h"

#include "common/error.h"
#include "common/json_file.h"
#include "tokenizer/json_field.h"

namespace tide::tokenizer {
namespace {

// A special-token entry is a plain string or a serialized AddedToken {"content": ...}.
std::optional<std::string> read_token(const JsonField& config, std::string_view key) {
  const std::optional<JsonField> field = config.find(key);
  if (!field) return std::nullopt;
  if (field->json().is_object()) return std::string((*field)["content"].as_string());
  if (!field->json().is_string()) {
    field->fail(fmt::format("expected a string or an object with \"content\", got {}",
                            json_type_name(field->json())));
  }
  return std::string(field->as_string());
}

}  // namespace

TokenizerConfig TokenizerConfig::from_json(std::string_view text, std::string_view origin) {
  const nlohmann::json json = parse_json(text, origin);
  const JsonField config(json, origin);
  config.require_object();
  TokenizerConfig result;
  result.bos_token = read_token(config, "bos_token");
  result.eos_token = read_token(config, "eos_token");
  result.add_bos_token = config.optional_bool("add_bos_token", false);
  return result;
}

TokenizerConfig TokenizerConfig::from_file(const std::filesystem::path& path) {
  return from_json(read_text_file(path), path.string());
}

}  // namespace tide::tokenizer
