#pragma once
// Where a benchmark's JSON goes: to --json FILE when given (pretty, for people reading it
// later), else as one line after the table (for a pipe).
#include <nlohmann/json.hpp>

#include <string>

namespace tide::cli {

// Throws tide::Error when the file cannot be written.
void emit_json(const nlohmann::json& json, const std::string& path);

}  // namespace tide::cli
