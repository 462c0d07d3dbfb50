#pragma once
// The text rules the template language borrows from Python: strings are sequences of code
// points (len, indexing and slicing count code points, not bytes), whitespace is Unicode
// whitespace (str.isspace), and upper/lower map case beyond ASCII. Invalid UTF-8 never fails:
// each stray byte counts as one code point and is passed through unchanged.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tide::jinja {

// Marks a byte that does not start a valid UTF-8 sequence; decoding consumes it alone.
inline constexpr char32_t kInvalidByte = 0xFFFFFFFF;

// Decodes the code point at `pos` and advances `pos` past it (by one byte when invalid).
char32_t decode_utf8(std::string_view text, size_t& pos);
void append_utf8(std::string& out, char32_t code_point);

size_t count_code_points(std::string_view text);
// Byte offset where each code point starts, plus text.size() at the end.
std::vector<size_t> code_point_offsets(std::string_view text);

// Python's str.isspace() for one code point.
bool is_python_space(char32_t c);
// Python's str.strip()/lstrip()/rstrip() without arguments.
std::string_view strip_python_space(std::string_view text, bool left, bool right);
// Python's str.strip(chars): strips any of the code points in `chars`.
std::string_view strip_code_points(std::string_view text, std::string_view chars, bool left, bool right);

// Python's str.splitlines(): breaks at \n, \r\n, \r and the other Unicode line boundaries.
std::vector<std::string_view> split_lines(std::string_view text);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (the scripts whose
// case appears in chat prompts); other code points are left as they are.
std::string to_upper(std::string_view text);
std::string to_lower(std::string_view text);
// Python's str.capitalize() and str.title().
std::string capitalize(std::string_view text);
std::string title_case(std::string_view text);
bool is_cased_lower(std::string_view text);  // Python's str.islower()
bool is_cased_upper(std::string_view text);  // Python's str.isupper()

}  // namespace tide::jinja
