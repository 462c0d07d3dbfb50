#pragma once
// Resolving --model: a Hugging Face model directory, or "demo" — the built-in
// DeepSeek-V3-architecture model with random weights and the real DeepSeek-V3 tokenizer,
// created under $TIDE_HOME (default ~/.cache/tide) on first use.
#include <filesystem>
#include <string>
#include <vector>

namespace tide::cli {

// The directory to load; creates the demo model when asked for and absent. Throws tide::Error
// with what to do when the directory or the demo tokenizer is missing.
std::filesystem::path resolve_model(const std::string& model);

bool is_demo(const std::string& model);

// $TIDE_HOME, or ~/.cache/tide.
std::filesystem::path tide_home();

// Parses "1,2,3" into token ids; throws tide::Error naming the bad entry.
std::vector<int32_t> parse_ids(const std::string& text);

}  // namespace tide::cli
