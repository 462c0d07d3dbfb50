#pragma once
// Functions every template can call: Jinja's range(), dict() and namespace(), and the two that
// transformers adds for chat templates, raise_exception() and strftime_now().
#include "tokenizer/jinja/value.h"

namespace tide::jinja {

// Looked up after the template's own variables, so a context variable of the same name wins.
const Dict& builtin_globals();

}  // namespace tide::jinja
