#pragma once
// Reading JSON files that users hand us (config.json, tokenizer.json, index files): a parse
// error names the file and the byte offset instead of surfacing nlohmann's bare message.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tide {

// Throws tide::Error naming `origin` when the text is not valid JSON.
nlohmann::json parse_json(std::string_view text, std::string_view origin);

// Reads and parses a file; throws tide::Error naming the path on any failure.
nlohmann::json read_json_file(const std::filesystem::path& path);

// Reads a whole text file; throws tide::Error naming the path on failure.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace tide
