#include "tokenizer/jinja/methods.h"

#include <algorithm>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {
namespace {

using Method = Value (*)(const Value& self, const Arguments& args, Budget& budget);

const std::string& text_argument(const Value& value, std::string_view callee) {
  if (!value.is_string()) value_fail("{}() argument must be str, not {}", callee, value.type_name());
  return value.as_string();
}

bool is_absent(const Value& value) { return value.is_undefined() || value.is_none(); }

// An optional count argument (maxsplit, count) where -1 means no limit.
int64_t optional_count(const Value& value, std::string_view name) {
  if (is_absent(value)) return -1;
  if (!value.is_int()) value_fail("{} must be an integer, not {}", name, value.type_name());
  return value.as_int();
}

Value string_list(const std::vector<std::string_view>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (std::string_view part : parts) items.push_back(Value::string(std::string(part)));
  return Value::list(std::move(items));
}

// CPython's split/rsplit on runs of whitespace, working on code points.
std::vector<std::string_view> split_whitespace(std::string_view text, int64_t max_split, bool from_right) {
  const std::vector<size_t> offsets = code_point_offsets(text);
  const size_t count = offsets.size() - 1;
  std::vector<bool> space(count);
  for (size_t i = 0; i < count; ++i) {
    size_t pos = offsets[i];
    space[i] = is_python_space(decode_utf8(text, pos));
  }
  const auto piece = [&](size_t first, size_t last) { return text.substr(offsets[first], offsets[last] - offsets[first]); };
  std::vector<std::string_view> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < count && space[i]) ++i;
      if (i == count) break;
      if (max_split-- == 0) {
        parts.push_back(piece(i, count));
        break;
      }
      size_t j = i;
      while (j < count && !space[j]) ++j;
      parts.push_back(piece(i, j));
      i = j;
    }
    return parts;
  }
  size_t end = count;  // exclusive
  while (true) {
    while (end > 0 && space[end - 1]) --end;
    if (end == 0) break;
    if (max_split-- == 0) {
      parts.push_back(piece(0, end));
      break;
    }
    size_t begin = end;
    while (begin > 0 && !space[begin - 1]) --begin;
    parts.push_back(piece(begin, end));
    end = begin;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string_view> split_on(std::string_view text, std::string_view separator, int64_t max_split, bool from_right) {
  std::vector<std::string_view> parts;
  if (!from_right) {
    size_t start = 0;
    for (size_t at; max_split != 0 && (at = text.find(separator, start)) != std::string_view::npos; --max_split) {
      parts.push_back(text.substr(start, at - start));
      start = at + separator.size();
    }
    parts.push_back(text.substr(start));
    return parts;
  }
  size_t end = text.size();
  for (; max_split != 0 && end >= separator.size(); --max_split) {
    const size_t at = text.rfind(separator, end - separator.size());
    if (at == std::string_view::npos) break;
    parts.push_back(text.substr(at + separator.size(), end - at - separator.size()));
    end = at;
  }
  parts.push_back(text.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

Value split(const Value& self, const Arguments& args, Budget& budget, bool from_right) {
  const auto bound = bind_arguments(from_right ? "rsplit" : "split", args, {"sep", "maxsplit"});
  budget.charge(self.shallow_size());
  const int64_t max_split = optional_count(bound[1], "maxsplit");
  if (is_absent(bound[0])) return string_list(split_whitespace(self.as_string(), max_split, from_right));
  const std::string& separator = text_argument(bound[0], "split");
  if (separator.empty()) value_fail("empty separator");
  return string_list(split_on(self.as_string(), separator, max_split, from_right));
}

Value str_split(const Value& self, const Arguments& args, Budget& budget) { return split(self, args, budget, false); }
Value str_rsplit(const Value& self, const Arguments& args, Budget& budget) { return split(self, args, budget, true); }

Value strip(const Value& self, const Arguments& args, Budget& budget, bool left, bool right) {
  const auto bound = bind_arguments("strip", args, {"chars"});
  budget.charge(self.shallow_size());
  const std::string& text = self.as_string();
  if (is_absent(bound[0])) return Value::string(std::string(strip_python_space(text, left, right)));
  return Value::string(std::string(strip_code_points(text, text_argument(bound[0], "strip"), left, right)));
}

Value str_strip(const Value& self, const Arguments& args, Budget& budget) { return strip(self, args, budget, true, true); }
Value str_lstrip(const Value& self, const Arguments& args, Budget& budget) { return strip(self, args, budget, true, false); }
Value str_rstrip(const Value& self, const Arguments& args, Budget& budget) { return strip(self, args, budget, false, true); }

Value affix_test(const Value& self, const Arguments& args, bool prefix) {
  const auto bound = bind_arguments(prefix ? "startswith" : "endswith", args, {prefix ? "prefix" : "suffix"}, 1);
  const std::string& text = self.as_string();
  const auto matches = [&](const Value& candidate) {
    const std::string& affix = text_argument(candidate, prefix ? "startswith" : "endswith");
    return prefix ? text.starts_with(affix) : text.ends_with(affix);
  };
  if (bound[0].is_tuple()) {
    return Value::boolean(std::any_of(bound[0].items().begin(), bound[0].items().end(), matches));
  }
  return Value::boolean(matches(bound[0]));
}

Value str_startswith(const Value& self, const Arguments& args, Budget&) { return affix_test(self, args, true); }
Value str_endswith(const Value& self, const Arguments& args, Budget&) { return affix_test(self, args, false); }

template <std::string (*Transform)(std::string_view)>
Value transform(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("str method", args, {});
  budget.charge(self.shallow_size());
  return Value::string(Transform(self.as_string()));
}

Value str_replace(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("replace", args, {"old", "new", "count"}, 2);
  const std::string& text = self.as_string();
  const std::string& old_text = text_argument(bound[0], "replace");
  const std::string& new_text = text_argument(bound[1], "replace");
  int64_t remaining = optional_count(bound[2], "count");
  budget.charge(text.size());
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement before every character and at the end.
    const std::vector<size_t> offsets = code_point_offsets(text);
    budget.check_size(text.size() + offsets.size() * new_text.size());
    for (size_t i = 0; i + 1 < offsets.size(); ++i) {
      if (remaining-- != 0) out += new_text;
      out.append(text, offsets[i], offsets[i + 1] - offsets[i]);
    }
    if (remaining != 0) out += new_text;
    return Value::string(std::move(out));
  }
  size_t start = 0;
  for (size_t at; remaining != 0 && (at = text.find(old_text, start)) != std::string::npos; --remaining) {
    out.append(text, start, at - start);
    out += new_text;
    budget.check_size(out.size());
    start = at + old_text.size();
  }
  out.append(text, start);
  return Value::string(std::move(out));
}

Value str_find(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("find", args, {"sub"}, 1);
  budget.charge(self.shallow_size());
  const std::string& text = self.as_string();
  const size_t at = text.find(text_argument(bound[0], "find"));
  if (at == std::string::npos) return Value::integer(-1);
  return Value::integer(static_cast<int64_t>(count_code_points(std::string_view(text).substr(0, at))));
}

Value str_count(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("count", args, {"sub"}, 1);
  budget.charge(self.shallow_size());
  const std::string& text = self.as_string();
  const std::string& sub = text_argument(bound[0], "count");
  if (sub.empty()) return Value::integer(static_cast<int64_t>(count_code_points(text) + 1));
  int64_t count = 0;
  for (size_t at = text.find(sub); at != std::string::npos; at = text.find(sub, at + sub.size())) ++count;
  return Value::integer(count);
}

Value str_join(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("join", args, {"iterable"}, 1);
  if (!bound[0].is_list()) value_fail("join() argument must be a list, not {}", bound[0].type_name());
  std::string out;
  bool first = true;
  for (const Value& item : bound[0].items()) {
    if (!first) out += self.as_string();
    first = false;
    out += text_argument(item, "join");
    budget.check_size(out.size());
  }
  budget.charge(out.size());
  return Value::string(std::move(out));
}

Value str_splitlines(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("splitlines", args, {});
  budget.charge(self.shallow_size());
  return string_list(split_lines(self.as_string()));
}

template <bool (*Predicate)(std::string_view)>
Value text_predicate(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("str method", args, {});
  budget.charge(self.shallow_size());
  return Value::boolean(Predicate(self.as_string()));
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_space(std::string_view text) { return !text.empty() && strip_python_space(text, true, true).empty(); }

Value dict_get(const Value& self, const Arguments& args, Budget&) {
  const auto bound = bind_arguments("get", args, {"key", "default"}, 1);
  if (bound[0].is_string()) {
    if (const Value* value = self.as_dict().find(bound[0].as_string())) return *value;
  }
  return bound[1].is_undefined() ? Value::none() : bound[1];
}

Value dict_items(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("items", args, {});
  budget.charge(self.shallow_size());
  std::vector<Value> pairs;
  for (const auto& [key, value] : self.as_dict().entries()) pairs.push_back(Value::tuple({Value::string(key), value}));
  return Value::list(std::move(pairs));
}

Value dict_keys(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("keys", args, {});
  budget.charge(self.shallow_size());
  std::vector<Value> keys;
  for (const auto& entry : self.as_dict().entries()) keys.push_back(Value::string(entry.first));
  return Value::list(std::move(keys));
}

Value dict_values(const Value& self, const Arguments& args, Budget& budget) {
  bind_arguments("values", args, {});
  budget.charge(self.shallow_size());
  std::vector<Value> values;
  for (const auto& entry : self.as_dict().entries()) values.push_back(entry.second);
  return Value::list(std::move(values));
}

Value list_count(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("count", args, {"value"}, 1);
  return Value::integer(std::count_if(self.items().begin(), self.items().end(),
                                      [&](const Value& item) { return equals(item, bound[0], budget); }));
}

Value list_index(const Value& self, const Arguments& args, Budget& budget) {
  const auto bound = bind_arguments("index", args, {"value"}, 1);
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (equals(self.items()[i], bound[0], budget)) return Value::integer(static_cast<int64_t>(i));
  }
  value_fail("list.index(x): x not in list");
}

struct MethodEntry {
  Value::Kind kind;
  std::string_view name;
  Method method;
};

constexpr MethodEntry kMethods[] = {
    {Value::Kind::String, "split", str_split},
    {Value::Kind::String, "rsplit", str_rsplit},
    {Value::Kind::String, "strip", str_strip},
    {Value::Kind::String, "lstrip", str_lstrip},
    {Value::Kind::String, "rstrip", str_rstrip},
    {Value::Kind::String, "startswith", str_startswith},
    {Value::Kind::String, "endswith", str_endswith},
    {Value::Kind::String, "upper", transform<to_upper>},
    {Value::Kind::String, "lower", transform<to_lower>},
    {Value::Kind::String, "title", transform<title_case>},
    {Value::Kind::String, "capitalize", transform<capitalize>},
    {Value::Kind::String, "replace", str_replace},
    {Value::Kind::String, "find", str_find},
    {Value::Kind::String, "count", str_count},
    {Value::Kind::String, "join", str_join},
    {Value::Kind::String, "splitlines", str_splitlines},
    {Value::Kind::String, "isdigit", text_predicate<all_digits>},
    {Value::Kind::String, "isspace", text_predicate<all_space>},
    {Value::Kind::String, "islower", text_predicate<is_cased_lower>},
    {Value::Kind::String, "isupper", text_predicate<is_cased_upper>},
    {Value::Kind::Dict, "get", dict_get},
    {Value::Kind::Dict, "items", dict_items},
    {Value::Kind::Dict, "keys", dict_keys},
    {Value::Kind::Dict, "values", dict_values},
    {Value::Kind::List, "count", list_count},
    {Value::Kind::List, "index", list_index},
};

}  // namespace

std::optional<Value> bind_method(const Value& self, std::string_view name) {
  if (self.is_generator()) return std::nullopt;
  const auto it = std::find_if(std::begin(kMethods), std::end(kMethods),
                               [&](const MethodEntry& entry) { return entry.kind == self.kind() && entry.name == name; });
  if (it == std::end(kMethods)) return std::nullopt;
  auto callable = std::make_shared<Callable>();
  callable->name = std::string(name);
  callable->function = [self, method = it->method](const Arguments& args, Budget& budget) { return method(self, args, budget); };
  callable->holds_namespace = self.holds_namespace();
  return Value::callable(std::move(callable));
}

}  // namespace tide::jinja
