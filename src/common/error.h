#pragma once
// Tide reports failures at module edges as tide::Error: one exception type whose message is
// written for the person who has to act on it ("file X: tensor Y: offsets out of range"). Parsers
// and loaders throw it; the CLI and the server catch it at their edge and turn it into an exit
// code or an HTTP error, so bad input never takes the process down.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tide {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tide
