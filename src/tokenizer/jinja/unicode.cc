#include "tokenizer/jinja/unicode.h"

namespace tide::jinja {
namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

char32_t upper_of(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x17F) return 'S';
  // Latin Extended-A pairs upper/lower case on neighbouring code points; which of the two is
  // the lower-case one flips at 0x139 and back at 0x14A.
  if (c >= 0x100 && c <= 0x137 && c != 0x130 && (c & 1)) return c - 1;
  if (c >= 0x139 && c <= 0x148 && !(c & 1)) return c - 1;
  if (c >= 0x14A && c <= 0x177 && (c & 1)) return c - 1;
  if (c >= 0x17A && c <= 0x17E && !(c & 1)) return c - 1;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

char32_t lower_of(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x137 && c != 0x130 && !(c & 1)) return c + 1;
  if (c >= 0x139 && c <= 0x148 && (c & 1)) return c + 1;
  if (c >= 0x14A && c <= 0x177 && !(c & 1)) return c + 1;
  if (c >= 0x179 && c <= 0x17E && (c & 1)) return c + 1;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

// Lower-case letters that have no single upper-case code point.
bool is_caseless_lower(char32_t c) { return c == 0xDF || c == 0x138 || c == 0x149; }
bool is_lower_letter(char32_t c) { return upper_of(c) != c || is_caseless_lower(c); }
bool is_upper_letter(char32_t c) { return lower_of(c) != c || c == 0x130; }

void append_upper(std::string& out, char32_t c) {
  if (c == 0xDF) {
    out += "SS";
  } else {
    append_utf8(out, upper_of(c));
  }
}

void append_lower(std::string& out, char32_t c) {
  if (c == 0x130) {
    out += "i\xCC\x87";  // Python lowers U+0130 to 'i' + U+0307 COMBINING DOT ABOVE
  } else {
    append_utf8(out, lower_of(c));
  }
}

void append_title(std::string& out, char32_t c) {
  if (c == 0xDF) {
    out += "Ss";
  } else {
    append_upper(out, c);
  }
}

template <typename Map>
std::string map_code_points(std::string_view text, Map map) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    if (c == kInvalidByte) {
      out.append(text.substr(start, pos - start));
    } else {
      map(out, c);
    }
  }
  return out;
}

bool contains_code_point(std::string_view set, char32_t c) {
  size_t pos = 0;
  while (pos < set.size()) {
    if (decode_utf8(set, pos) == c) return true;
  }
  return false;
}

template <typename Predicate>
std::string_view strip_where(std::string_view text, bool left, bool right, Predicate strip) {
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      if (!strip(decode_utf8(text, next))) break;
      begin = next;
    }
  }
  if (right) {
    // Scanning forward keeps invalid bytes and multi-byte sequences intact.
    size_t kept_end = begin;
    for (size_t pos = begin; pos < end;) {
      if (!strip(decode_utf8(text, pos))) kept_end = pos;
    }
    end = kept_end;
  }
  return text.substr(begin, end - begin);
}

}  // namespace

char32_t decode_utf8(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  size_t length = 0;
  char32_t c = 0;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    c = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    c = lead & 0x0F;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    c = lead & 0x07;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    ++pos;
    return kInvalidByte;
  }
  if (pos + length > text.size() || byte(pos + 1) < min_second || byte(pos + 1) > max_second) {
    ++pos;
    return kInvalidByte;
  }
  for (size_t i = 1; i < length; ++i) {
    if (!is_continuation(byte(pos + i))) {
      ++pos;
      return kInvalidByte;
    }
    c = (c << 6) | (byte(pos + i) & 0x3F);
  }
  pos += length;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

size_t count_code_points(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) decode_utf8(text, pos);
  return count;
}

std::vector<size_t> code_point_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  size_t pos = 0;
  while (pos < text.size()) {
    offsets.push_back(pos);
    decode_utf8(text, pos);
  }
  offsets.push_back(text.size());
  return offsets;
}

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string_view strip_python_space(std::string_view text, bool left, bool right) {
  return strip_where(text, left, right, is_python_space);
}

std::string_view strip_code_points(std::string_view text, std::string_view chars, bool left,
                                   bool right) {
  return strip_where(text, left, right,
                     [&](char32_t c) { return c != kInvalidByte && contains_code_point(chars, c); });
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t line_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    const bool is_break = (c >= 0x0A && c <= 0x0D) || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!is_break) continue;
    lines.push_back(text.substr(line_start, start - line_start));
    if (c == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
    line_start = pos;
  }
  if (line_start < text.size()) lines.push_back(text.substr(line_start));
  return lines;
}

std::string to_upper(std::string_view text) { return map_code_points(text, append_upper); }
std::string to_lower(std::string_view text) { return map_code_points(text, append_lower); }

std::string capitalize(std::string_view text) {
  bool first = true;
  return map_code_points(text, [&](std::string& out, char32_t c) {
    first ? append_title(out, c) : append_lower(out, c);
    first = false;
  });
}

std::string title_case(std::string_view text) {
  bool previous_cased = false;
  return map_code_points(text, [&](std::string& out, char32_t c) {
    previous_cased ? append_lower(out, c) : append_title(out, c);
    previous_cased = is_lower_letter(c) || is_upper_letter(c);
  });
}

bool is_cased_lower(std::string_view text) {
  bool any_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode_utf8(text, pos);
    if (is_upper_letter(c)) return false;
    any_cased = any_cased || is_lower_letter(c);
  }
  return any_cased;
}

bool is_cased_upper(std::string_view text) {
  bool any_cased = false;
  for (size_t pos = 0; pos < text.size();) {
    const char32_t c = decode_utf8(text, pos);
    if (is_lower_letter(c)) return false;
    any_cased = any_cased || is_upper_letter(c);
  }
  return any_cased;
}

}  // namespace tide::jinja
