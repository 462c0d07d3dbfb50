#pragma once
// Tide reports failures at module edges as tide::Error: one exception type whose message is
// written for the person who has to act on it ("file X: tensor Y: offsets out of range"). Parsers
// and loaders throw it; the CLI and the server catch it at their edge and turn it into an exit
// code or an HTTP error, so bad input never takes the process down.
#include <fmt/format.h>

#include <string>

#include "common/error_type.h"

namespace tide {

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tide
