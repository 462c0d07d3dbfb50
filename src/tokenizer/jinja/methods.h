#pragma once
// The Python methods templates call on values: content.split('</think>'), name.startswith('x'),
// message.get('tool_calls'), tools.items(). Methods that would mutate (list.append, dict.update)
// are absent, as in the ImmutableSandboxedEnvironment that transformers renders with.
#include <optional>
#include <string_view>

#include "tokenizer/jinja/value.h"

namespace tide::jinja {

// A callable bound to `self`, or nothing when the type has no such method.
std::optional<Value> bind_method(const Value& self, std::string_view name);

}  // namespace tide::jinja
