#pragma once
// Failures inside value operations (a filter given the wrong type, a division by zero) are
// raised without knowing where in the template they happened. The interpreter catches
// ValueError at the expression that failed and rethrows a tide::Error that names the template,
// line and column; a ValueError that escapes is still a tide::Error, so callers catch one type.
#include "common/error.h"

namespace tide::jinja {

class ValueError : public tide::Error {
 public:
  using tide::Error::Error;
};

template <typename... Args>
[[noreturn]] void value_fail(fmt::format_string<Args...> format, Args&&... args) {
  throw ValueError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tide::jinja
