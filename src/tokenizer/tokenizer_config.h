#pragma once
// The parts of transformers' tokenizer_config.json that matter to serving: which added tokens are
// BOS and EOS, and whether BOS is meant to be prepended to every prompt.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace tide::tokenizer {

struct TokenizerConfig {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // Absent means false: only Llama-style tokenizer classes default it to true, and the file
  // written for them states it.
  bool add_bos_token = false;

  // Throws tide::Error naming `origin` and the field on malformed content.
  static TokenizerConfig from_json(std::string_view text, std::string_view origin);
  static TokenizerConfig from_file(const std::filesystem::path& path);
};

}  // namespace tide::tokenizer
