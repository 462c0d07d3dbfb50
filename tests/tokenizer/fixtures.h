#pragma once
// Paths and small helpers shared by the tokenizer tests.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/json_file.h"

namespace tide::tokenizer::testing {

inline std::filesystem::path fixtures_dir() { return TIDE_FIXTURES_DIR; }

inline std::filesystem::path deepseek_v3_dir() { return fixtures_dir() / "tokenizers" / "deepseek-v3"; }

inline const nlohmann::json& deepseek_v3_expected() {
  static const nlohmann::json expected = read_json_file(deepseek_v3_dir() / "expected.json");
  return expected;
}

}  // namespace tide::tokenizer::testing
