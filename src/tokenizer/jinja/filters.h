#pragma once
// Jinja's built-in filters ({{ x | trim }}) that chat templates use, plus transformers' own
// `tojson`, which replaces Jinja's: it is json.dumps(ensure_ascii=False) without HTML escaping.
#include <string_view>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

using FilterFunction = Value (*)(const Value& input, const Arguments& args, Budget& budget);

// Null for a name that is not a supported filter.
FilterFunction find_filter(std::string_view name);

}  // namespace tide::jinja
