#pragma once
// An error answered to an API client, in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
// Request parsing and the handlers throw it; the handler edge turns it into the HTTP response,
// so no bad request ever escapes as anything but a JSON error.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tide::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {});

  int status;
  std::string type;   // derived from the status: invalid_request_error, rate_limit_error, ...
  std::string param;  // the request field at fault, or empty
  std::string code;   // machine-readable reason, or empty
  int retry_after_s = 0;  // sent as Retry-After with 429 and 503
};

// A 400 naming the field at fault.
template <typename... Args>
[[noreturn]] void invalid_param(const std::string& param, fmt::format_string<Args...> format, Args&&... args) {
  throw ApiError(400, fmt::format(format, std::forward<Args>(args)...), param);
}

// The JSON body for `error`.
std::string error_body(const ApiError& error);

}  // namespace tide::server
