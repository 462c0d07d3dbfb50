#pragma once
// Reading from values the way Jinja does. `x.name` tries an attribute (a method) first and then
// a key; `x['name']` tries the key first. A missing key or an index out of range gives
// undefined, which prints as nothing; only using undefined further (undefined.attr, undefined +
// 1) is an error. Strings index, slice and iterate by code point, as in Python.
#include <string_view>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// Python's object[start:stop:step]; missing parts are none.
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step, Budget& budget);
// Jinja's attribute paths in filters (selectattr('function.name')): dotted keys, numeric parts index lists.
Value get_path(const Value& object, std::string_view path);

// The items a `for` loop or a filter walks: list items, dict keys, the characters of a string;
// nothing for undefined. Fails for values Python cannot iterate.
std::vector<Value> iterate(const Value& value, Budget& budget);
// Python's len(); undefined has length 0.
size_t length_of(const Value& value);

}  // namespace tide::jinja
