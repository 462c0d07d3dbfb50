#include "tokenizer/jinja/filters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/methods.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/sequence_filters.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_error.h"
#include "tokenizer/jinja/value_format.h"
#include "tokenizer/jinja/value_json.h"

namespace tide::jinja {
namespace {

bool is_absent(const Value& value) { return value.is_undefined() || value.is_none(); }

Value abs_filter(const Value& input, const Arguments& args, Budget&) {
  bind_arguments("abs", args, {});
  if (input.is_float()) return Value::floating(std::fabs(input.as_float()));
  if (input.as_int() < 0) return negate(input);
  return Value::integer(input.as_int());
}

Value default_filter(const Value& input, const Arguments& args, Budget&) {
  const auto bound = bind_arguments("default", args, {"default_value", "boolean"});
  const bool replace = input.is_undefined() || (bound[1].truthy() && !input.truthy());
  if (!replace) return input;
  return bound[0].is_undefined() ? Value::string("") : bound[0];
}

template <std::string (*Transform)(std::string_view)>
Value text_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("filter", args, {});
  return Value::string(Transform(to_str(input, budget)));
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Jinja's title filter capitalises after '-', whitespace and opening brackets (not after
// apostrophes, unlike Python's str.title()).
std::string jinja_title(std::string_view text) {
  std::string out;
  bool word_start = true;
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    const char32_t c = decode_utf8(text, pos);
    const std::string_view character = text.substr(start, pos - start);
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_python_space(c);
    out += separator ? std::string(character) : word_start ? to_upper(character) : to_lower(character);
    word_start = separator;
  }
  return out;
}

Value trim_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("trim", args, {"chars"});
  const std::string text = to_str(input, budget);
  if (is_absent(bound[0])) return Value::string(std::string(strip_python_space(text, true, true)));
  return Value::string(std::string(strip_code_points(text, bound[0].as_string(), true, true)));
}

Value replace_filter(const Value& input, const Arguments& args, Budget& budget) {
  const Value text = Value::string(to_str(input, budget));
  return (*bind_method(text, "replace")).as_callable().function(args, budget);
}

Value string_filter(const Value& input, const Arguments& args, Budget& budget) {
  bind_arguments("string", args, {});
  return Value::string(to_str(input, budget));
}

std::string_view strip_for_number(std::string_view text) {
  text = strip_python_space(text, true, true);
  return text.starts_with('+') ? text.substr(1) : text;
}

// Python's float(str), accepting "1_000.5", "inf" and surrounding whitespace.
std::optional<double> parse_float(std::string_view text) {
  std::string digits;
  for (char c : strip_for_number(text)) {
    if (c != '_') digits += c;
  }
  double value = 0;
  const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || result.ec != std::errc() || result.ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Python's int(str, base).
std::optional<int64_t> parse_int(std::string_view text, int base) {
  text = strip_python_space(text, true, true);
  const bool negative = text.starts_with('-');
  if (negative || text.starts_with('+')) text.remove_prefix(1);
  const std::string_view prefix = base == 16 ? "0x" : base == 8 ? "0o" : base == 2 ? "0b" : "";
  if (!prefix.empty() && text.size() > 2 && text[0] == '0' && (text[1] | 0x20) == prefix[1]) text.remove_prefix(2);
  std::string digits = negative ? "-" : "";
  for (char c : text) {
    if (c != '_') digits += c;
  }
  int64_t value = 0;
  const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (text.empty() || result.ec != std::errc() || result.ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// Python's int(float); where Python would return a big integer we fail rather than wrap.
int64_t truncate_to_int(double value) {
  if (!(std::fabs(value) < 9.2e18)) value_fail("int() of {} does not fit in 64 bits", format_float(value));
  return static_cast<int64_t>(std::trunc(value));
}

Value int_filter(const Value& input, const Arguments& args, Budget&) {
  const auto bound = bind_arguments("int", args, {"default", "base"});
  if (input.is_undefined()) fail_undefined(input);
  const Value fallback = bound[0].is_undefined() ? Value::integer(0) : bound[0];
  if (input.is_int() || input.is_bool()) return Value::integer(input.as_int());
  // int(nan) raises ValueError, which Jinja turns into the default.
  if (input.is_float()) return std::isnan(input.as_float()) ? fallback : Value::integer(truncate_to_int(input.as_float()));
  if (!input.is_string()) return fallback;
  const int64_t base = bound[1].is_undefined() ? 10 : bound[1].as_int();
  if (base < 2 || base > 36) value_fail("int() base must be between 2 and 36");
  if (auto value = parse_int(input.as_string(), static_cast<int>(base))) return Value::integer(*value);
  if (auto value = parse_float(input.as_string())) return std::isnan(*value) ? fallback : Value::integer(truncate_to_int(*value));
  return fallback;
}

Value float_filter(const Value& input, const Arguments& args, Budget&) {
  const auto bound = bind_arguments("float", args, {"default"});
  if (input.is_undefined()) fail_undefined(input);
  if (input.is_number()) return Value::floating(input.as_float());
  if (input.is_string()) {
    if (auto value = parse_float(input.as_string())) return Value::floating(*value);
  }
  return bound[0].is_undefined() ? Value::floating(0.0) : bound[0];
}

// Python's round(x, digits): ties go to the even neighbour of the exact binary value.
double round_half_even(double value, int64_t digits) {
  if (!std::isfinite(value)) return value;
  if (digits <= 0) {
    const double scale = std::pow(10.0, static_cast<double>(-digits));
    return std::nearbyint(value / scale) * scale;
  }
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), value);
  return std::strtod(buffer, nullptr);
}

Value round_filter(const Value& input, const Arguments& args, Budget&) {
  const auto bound = bind_arguments("round", args, {"precision", "method"});
  const int64_t precision = bound[0].is_undefined() ? 0 : bound[0].as_int();
  const std::string method = bound[1].is_undefined() ? "common" : bound[1].as_string();
  if (method != "common" && method != "ceil" && method != "floor") {
    value_fail("round() method must be 'common', 'ceil' or 'floor'");
  }
  if (method == "common" && !input.is_float()) return Value::integer(input.as_int());
  if (method == "common") return Value::floating(round_half_even(input.as_float(), precision));
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = input.as_float() * scale;
  return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value indent_filter(const Value& input, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("indent", args, {"width", "first", "blank"});
  std::string indentation;
  if (bound[0].is_string()) {
    indentation = bound[0].as_string();
  } else {
    const int64_t width = bound[0].is_undefined() ? 4 : bound[0].as_int();
    budget.check_size(static_cast<uint64_t>(std::max<int64_t>(width, 0)));
    indentation.assign(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  // Jinja appends a newline before splitting, so a trailing newline yields no extra line.
  const std::string text = to_str(input, budget) + "\n";
  const std::vector<std::string_view> lines = split_lines(text);
  budget.check_size(text.size() + lines.size() * (indentation.size() + 1));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    const bool indented = i == 0 ? bound[1].truthy() : bound[2].truthy() || !lines[i].empty();
    if (indented) out += indentation;
    out += lines[i];
  }
  return Value::string(std::move(out));
}

Value tojson_filter(const Value& input, const Arguments& args, Budget& budget) {
  // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  const auto bound = bind_arguments("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = bound[0].truthy();
  if (bound[1].is_string()) {
    style.indent = bound[1].as_string();
  } else if (!is_absent(bound[1])) {
    const int64_t width = bound[1].as_int();
    if (width > 64) value_fail("tojson() indent of more than 64 spaces");
    style.indent = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
  }
  if (style.indent) style.item_separator.assign(1, ',');  // json.dumps drops the space when indenting
  if (!is_absent(bound[2])) {
    if (!bound[2].is_list() || bound[2].items().size() != 2) value_fail("tojson() separators must be a pair of strings");
    style.item_separator = bound[2].items()[0].as_string();
    style.key_separator = bound[2].items()[1].as_string();
  }
  style.sort_keys = bound[3].truthy();
  return Value::string(to_json(input, style, budget));
}

struct FilterEntry {
  std::string_view name;
  FilterFunction function;
};

constexpr FilterEntry kFilters[] = {
    {"abs", abs_filter},
    {"capitalize", text_filter<capitalize>},
    {"d", default_filter},
    {"default", default_filter},
    {"e", text_filter<html_escape>},
    {"escape", text_filter<html_escape>},
    {"float", float_filter},
    {"indent", indent_filter},
    {"int", int_filter},
    {"lower", text_filter<to_lower>},
    {"replace", replace_filter},
    {"round", round_filter},
    {"safe", string_filter},
    {"string", string_filter},
    {"title", text_filter<jinja_title>},
    {"tojson", tojson_filter},
    {"trim", trim_filter},
    {"upper", text_filter<to_upper>},
};

}  // namespace

FilterFunction find_filter(std::string_view name) {
  for (const FilterEntry& entry : kFilters) {
    if (entry.name == name) return entry.function;
  }
  return find_sequence_filter(name);
}

}  // namespace tide::jinja
