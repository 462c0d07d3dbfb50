#pragma once
// A template's text and name, so that every error can say where it is: "chat_template:3:17:
// unknown filter 'xyz'". Positions are kept as byte offsets and turned into a line and a column
// (counted in characters) only when an error is reported.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tide::jinja {

struct Source {
  std::string name;
  std::string text;  // newlines already normalised to '\n'

  // "name:line:column"
  std::string where(uint32_t offset) const;

  template <typename... Args>
  [[noreturn]] void fail_at(uint32_t offset, fmt::format_string<Args...> format, Args&&... args) const {
    throw tide::Error(where(offset) + ": " + fmt::format(format, std::forward<Args>(args)...));
  }
};

// What Jinja does to a template before lexing: "\r\n" and "\r" become "\n", and one trailing
// newline is dropped (keep_trailing_newline=False, the transformers default).
std::string normalize_newlines(std::string_view text);

}  // namespace tide::jinja
