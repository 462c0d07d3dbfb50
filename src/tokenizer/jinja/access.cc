#include "tokenizer/jinja/access.h"

#include <fmt/format.h>

#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/methods.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/unicode.h"
#include "tokenizer/jinja/value_error.h"

namespace tide::jinja {
namespace {

Value no_attribute(const Value& object, std::string_view name) {
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
}

// Python's index rules: negative counts from the end; out of range gives undefined.
Value index_sequence(const Value& object, int64_t index) {
  const bool is_string = object.is_string();
  const int64_t size = static_cast<int64_t>(length_of(object));
  const int64_t position = index < 0 ? index + size : index;
  if (position < 0 || position >= size) {
    return Value::undefined(fmt::format("{} index {} out of range", object.type_name(), index));
  }
  if (!is_string) return object.items()[static_cast<size_t>(position)];
  const std::string& text = object.as_string();
  const std::vector<size_t> offsets = code_point_offsets(text);
  const size_t begin = offsets[static_cast<size_t>(position)];
  return Value::string(text.substr(begin, offsets[static_cast<size_t>(position) + 1] - begin));
}

int64_t slice_part(const Value& part, int64_t fallback) {
  if (part.is_none() || part.is_undefined()) return fallback;
  if (part.is_int() || part.is_bool()) return part.as_int();
  value_fail("slice indices must be integers or none, not {}", part.type_name());
}

// CPython's PySlice_AdjustIndices.
int64_t clamp_slice_index(int64_t index, int64_t size, int64_t step) {
  if (index < 0) {
    index += size;
    if (index < 0) index = step < 0 ? -1 : 0;
  } else if (index >= size) {
    index = step < 0 ? size - 1 : size;
  }
  return index;
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) fail_undefined(object);
  if (std::optional<Value> method = bind_method(object, name)) return *method;
  if (object.is_dict()) {
    if (const Value* value = object.as_dict().find(name)) return *value;
  } else if (object.is_namespace()) {
    if (const Value* value = object.as_namespace().attributes().find(name)) return *value;
  }
  return no_attribute(object, name);
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_generator()) value_fail("'generator' object is not subscriptable");
  if (object.is_dict() && key.is_string()) {
    if (const Value* value = object.as_dict().find(key.as_string())) return *value;
  }
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    return index_sequence(object, key.as_int());
  }
  if (key.is_string()) return get_attribute(object, key.as_string());
  return Value::undefined(fmt::format("'{} object' has no item of type {}", object.type_name(), key.type_name()));
}

Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step, Budget& budget) {
  if (object.is_undefined()) fail_undefined(object);
  if ((!object.is_list() && !object.is_string()) || object.is_generator()) {
    value_fail("'{}' object is not subscriptable", object.type_name());
  }
  const int64_t stride = slice_part(step, 1);
  if (stride == 0) value_fail("slice step cannot be zero");
  const int64_t size = static_cast<int64_t>(length_of(object));
  budget.charge(static_cast<uint64_t>(size));
  int64_t first = clamp_slice_index(slice_part(start, stride < 0 ? size - 1 : 0), size, stride);
  const int64_t last = clamp_slice_index(slice_part(stop, stride < 0 ? -size - 1 : size), size, stride);
  std::vector<int64_t> positions;
  for (int64_t i = first; stride > 0 ? i < last : i > last; i += stride) positions.push_back(i);
  if (object.is_list()) {
    std::vector<Value> items;
    for (int64_t i : positions) items.push_back(object.items()[static_cast<size_t>(i)]);
    return object.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  const std::string& text = object.as_string();
  const std::vector<size_t> offsets = code_point_offsets(text);
  std::string out;
  for (int64_t i : positions) {
    const size_t begin = offsets[static_cast<size_t>(i)];
    out.append(text, begin, offsets[static_cast<size_t>(i) + 1] - begin);
  }
  return Value::string(std::move(out));
}

Value get_path(const Value& object, std::string_view path) {
  Value current = object;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (current.is_undefined()) return current;
    const bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18;
    current = numeric ? get_item(current, Value::integer(std::stoll(part))) : get_item(current, Value::string(part));
    if (dot == std::string_view::npos) return current;
    start = dot + 1;
  }
}

std::vector<Value> iterate(const Value& value, Budget& budget) {
  budget.charge(value.shallow_size());
  switch (value.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return value.items();
    case Value::Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& [key, item] : value.as_dict().entries()) keys.push_back(Value::string(key));
      return keys;
    }
    case Value::Kind::String: {
      const std::string& text = value.as_string();
      const std::vector<size_t> offsets = code_point_offsets(text);
      std::vector<Value> characters;
      for (size_t i = 0; i + 1 < offsets.size(); ++i) {
        characters.push_back(Value::string(text.substr(offsets[i], offsets[i + 1] - offsets[i])));
      }
      return characters;
    }
    default: value_fail("'{}' object is not iterable", value.type_name());
  }
}

size_t length_of(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return count_code_points(value.as_string());
    case Value::Kind::List:
      if (value.is_generator()) break;
      return value.items().size();
    case Value::Kind::Dict: return value.as_dict().size();
    default: break;
  }
  value_fail("object of type '{}' has no len()", value.type_name());
}

}  // namespace tide::jinja
