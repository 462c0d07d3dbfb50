#pragma once
// The exception type alone, for code that must build without fmt (the CUDA backend in a
// kernels-only build); everything else includes common/error.h, which adds tide::fail.
#include <stdexcept>
#include <string>

namespace tide {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace tide
