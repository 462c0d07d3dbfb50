#pragma once
// HTTP responses carrying JSON, and OpenAI-shaped errors as HTTP responses.
#include <string>

#include "common/http/exchange.h"
#include "server/api_error.h"

namespace tide::server {

http::Response json_response(http::Status status, std::string body);
// The error's JSON with its status, and Retry-After when the error says when to retry.
http::Response error_response(const ApiError& error);

}  // namespace tide::server
