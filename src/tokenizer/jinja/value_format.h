#pragma once
// Turning values into text exactly as Python does, since that is what a template prints:
// {{ 1.0 }} is "1.0", {{ none }} is "None", a list prints as ['a', 1].
#include <string>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

// Python's repr() of a float: the shortest text that reads back to the same double.
std::string format_float(double value);

// Python's str(): what {{ value }} prints. Undefined prints as nothing.
void append_str(std::string& out, const Value& value, Budget& budget);
std::string to_str(const Value& value, Budget& budget);

// Python's repr(): how a value prints inside a list or dict.
void append_repr(std::string& out, const Value& value, Budget& budget);

}  // namespace tide::jinja
