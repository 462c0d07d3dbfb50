#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace tide::server {
namespace {

const char* type_for(int status) {
  switch (status) {
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

ApiError::ApiError(int status, std::string message, std::string param, std::string code)
    : std::runtime_error(std::move(message)), status(status), type(type_for(status)), param(std::move(param)),
      code(std::move(code)) {}

std::string error_body(const ApiError& error) {
  using Json = nlohmann::ordered_json;  // message first, as OpenAI writes it
  auto optional = [](const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); };
  Json body = {{"error",
                          {{"message", error.what()},
                           {"type", error.type},
                           {"param", optional(error.param)},
                           {"code", optional(error.code)}}}};
  // Messages may quote the client's bytes; replace what is not UTF-8 rather than fail here.
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace tide::server
