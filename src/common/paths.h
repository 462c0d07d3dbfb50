#pragma once
// Existence checks for paths a user gave (--model, --tokenizer, a model's files). The
// std::filesystem overloads without an error_code throw filesystem_error when the file system
// cannot even look a name up (a name past NAME_MAX, a parent directory that cannot be searched);
// for such a path "not there" is the answer, and the caller's own message names the path.
#include <filesystem>
#include <system_error>

namespace tide {

inline bool path_exists(const std::filesystem::path& path) {
  std::error_code unreadable;
  return std::filesystem::exists(path, unreadable);
}

inline bool is_directory_path(const std::filesystem::path& path) {
  std::error_code unreadable;
  return std::filesystem::is_directory(path, unreadable);
}

}  // namespace tide
