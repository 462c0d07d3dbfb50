#pragma once
// Jinja's built-in tests: the names that follow `is` ({% if x is defined %}, `is none`,
// `is string`), also usable by name in select/reject/selectattr/rejectattr.
#include <string_view>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

using TestFunction = bool (*)(const Value& input, const Arguments& args, Budget& budget);

// Null for a name that is not a supported test.
TestFunction find_test(std::string_view name);

}  // namespace tide::jinja
