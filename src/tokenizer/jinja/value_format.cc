#include "tokenizer/jinja/value_format.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/unicode.h"

namespace tide::jinja {
namespace {

void append_quoted(std::string& out, const std::string& text) {
  // Python picks double quotes only when that avoids escaping a single quote.
  const bool has_single = text.find('\'') != std::string::npos;
  const char quote = has_single && text.find('"') == std::string::npos ? '"' : '\'';
  out += quote;
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == kInvalidByte || c < 0x20 || (c >= 0x7F && c <= 0xA0)) {
      const unsigned value = c == kInvalidByte ? static_cast<unsigned char>(text[start]) : c;
      out += fmt::format("\\x{:02x}", value);
    } else {
      out.append(text, start, pos - start);
    }
  }
  out += quote;
}

void append_items(std::string& out, const Value& value, Budget& budget) {
  const bool tuple = value.is_tuple();
  out += tuple ? '(' : '[';
  const auto& items = value.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i], budget);
  }
  if (tuple && items.size() == 1) out += ',';
  out += tuple ? ')' : ']';
}

void append_dict(std::string& out, const Dict& dict, Budget& budget) {
  out += '{';
  bool first = true;
  for (const auto& [key, item] : dict.entries()) {
    if (!first) out += ", ";
    first = false;
    budget.charge(key.size());
    append_quoted(out, key);
    out += ": ";
    append_repr(out, item, budget);
  }
  out += '}';
}

}  // namespace

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
  const size_t e = text.find('e');
  const bool negative = text[0] == '-';
  std::string digits;
  for (char c : text.substr(negative ? 1 : 0, e - (negative ? 1 : 0))) {
    if (c != '.') digits += c;
  }
  // Python writes 0.000123 but 1.23e-05, and 1234567890123456.0 but 1e+16: the decimal point
  // position decides between positional and exponent notation.
  int exponent = 0;
  const char* exponent_start = text.data() + e + 1;
  std::from_chars(exponent_start + (*exponent_start == '+' ? 1 : 0), text.data() + text.size(), exponent);
  const int point = exponent + 1;
  const int count = static_cast<int>(digits.size());
  std::string out = negative ? "-" : "";
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (point >= count) {
      out += digits + std::string(static_cast<size_t>(point - count), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
    }
    return out;
  }
  out += digits[0];
  if (count > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

void append_str(std::string& out, const Value& value, Budget& budget) {
  budget.charge(value.shallow_size());
  switch (value.kind()) {
    case Value::Kind::Undefined: return;
    case Value::Kind::String: out += value.as_string(); return;
    case Value::Kind::Namespace:
      out += "<Namespace ";
      append_dict(out, value.as_namespace().attributes(), budget);
      out += '>';
      return;
    case Value::Kind::Callable: out += "<function " + value.as_callable().name + ">"; return;
    default: append_repr(out, value, budget);
  }
}

std::string to_str(const Value& value, Budget& budget) {
  if (value.is_string()) {
    budget.charge(value.shallow_size());
    return value.as_string();
  }
  std::string out;
  append_str(out, value, budget);
  return out;
}

void append_repr(std::string& out, const Value& value, Budget& budget) {
  budget.charge(value.shallow_size());
  switch (value.kind()) {
    case Value::Kind::Undefined: out += "Undefined"; return;
    case Value::Kind::None: out += "None"; return;
    case Value::Kind::Bool: out += value.as_bool() ? "True" : "False"; return;
    case Value::Kind::Int: out += std::to_string(value.as_int()); return;
    case Value::Kind::Float: out += format_float(value.as_float()); return;
    case Value::Kind::String: append_quoted(out, value.as_string()); return;
    case Value::Kind::List:
      if (value.is_generator()) {
        out += "<generator object>";
      } else {
        append_items(out, value, budget);
      }
      return;
    case Value::Kind::Dict: append_dict(out, value.as_dict(), budget); return;
    case Value::Kind::Namespace:
    case Value::Kind::Callable: append_str(out, value, budget); return;
  }
}

}  // namespace tide::jinja
