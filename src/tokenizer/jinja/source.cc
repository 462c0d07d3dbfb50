#include "tokenizer/jinja/source.h"

#include <algorithm>

#include "tokenizer/jinja/unicode.h"

namespace tide::jinja {

std::string Source::where(uint32_t offset) const {
  const size_t end = std::min<size_t>(offset, text.size());
  const std::string_view before(text.data(), end);
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  const size_t column = 1 + count_code_points(before.substr(line_start));
  return fmt::format("{}:{}:{}", name, line, column);
}

std::string normalize_newlines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += text[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace tide::jinja
