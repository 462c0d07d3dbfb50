#include "tokenizer/jinja/value_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_format.h"

namespace tide::jinja {
namespace {

class JsonWriter {
 public:
  JsonWriter(const JsonStyle& style, Budget& budget) : style_(style), budget_(budget) {}

  void write(const Value& value, int level) {
    budget_.charge(value.shallow_size());
    switch (value.kind()) {
      case Value::Kind::None: out_ += "null"; return;
      case Value::Kind::Bool: out_ += value.as_bool() ? "true" : "false"; return;
      case Value::Kind::Int: out_ += std::to_string(value.as_int()); return;
      case Value::Kind::Float: write_float(value.as_float()); return;
      case Value::Kind::String: write_string(value.as_string()); return;
      case Value::Kind::List:
        if (value.is_generator()) break;
        write_list(value.items(), level);
        return;
      case Value::Kind::Dict: write_dict(value.as_dict(), level); return;
      default: break;
    }
    value_fail("Object of type {} is not JSON serializable", value.type_name());
  }

  std::string take() { return std::move(out_); }

 private:
  void write_float(double value) {
    if (std::isnan(value)) {
      out_ += "NaN";
    } else if (std::isinf(value)) {
      out_ += value > 0 ? "Infinity" : "-Infinity";
    } else {
      out_ += format_float(value);
    }
  }

  void write_string(const std::string& text) {
    out_ += '"';
    for (size_t pos = 0; pos < text.size();) {
      const size_t start = pos;
      const char32_t decoded = decode_utf8(text, pos);
      const char32_t c = decoded == kInvalidByte ? 0xFFFD : decoded;  // output stays valid UTF-8
      switch (c) {
        case '"': out_ += "\\\""; continue;
        case '\\': out_ += "\\\\"; continue;
        case '\n': out_ += "\\n"; continue;
        case '\r': out_ += "\\r"; continue;
        case '\t': out_ += "\\t"; continue;
        case '\b': out_ += "\\b"; continue;
        case '\f': out_ += "\\f"; continue;
        default: break;
      }
      if (c < 0x20 || (style_.ensure_ascii && c >= 0x7F)) {
        write_escaped(c);
      } else if (decoded == kInvalidByte) {
        append_utf8(out_, c);
      } else {
        out_.append(text, start, pos - start);
      }
    }
    out_ += '"';
  }

  void write_escaped(char32_t c) {
    if (c >= 0x10000) {
      // ensure_ascii writes characters outside the BMP as UTF-16 surrogate pairs.
      c -= 0x10000;
      out_ += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
    } else {
      out_ += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    }
  }

  void newline(int level) {
    if (!style_.indent) return;
    out_ += '\n';
    for (int i = 0; i < level; ++i) out_ += *style_.indent;
  }

  void write_list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out_ += "[]";
      return;
    }
    out_ += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_ += style_.item_separator;
      newline(level + 1);
      write(items[i], level + 1);
    }
    newline(level);
    out_ += ']';
  }

  void write_dict(const Dict& dict, int level) {
    if (dict.empty()) {
      out_ += "{}";
      return;
    }
    std::vector<const Dict::Entry*> entries;
    for (const auto& entry : dict.entries()) entries.push_back(&entry);
    if (style_.sort_keys) {
      std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
    }
    out_ += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out_ += style_.item_separator;
      newline(level + 1);
      write_string(entries[i]->first);
      out_ += style_.key_separator;
      write(entries[i]->second, level + 1);
    }
    newline(level);
    out_ += '}';
  }

  const JsonStyle& style_;
  Budget& budget_;
  std::string out_;
};

}  // namespace

std::string to_json(const Value& value, const JsonStyle& style, Budget& budget) {
  JsonWriter writer(style, budget);
  writer.write(value, 0);
  return writer.take();
}

}  // namespace tide::jinja
