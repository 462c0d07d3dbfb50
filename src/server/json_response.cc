#include "server/json_response.h"

namespace tide::server {

http::Response json_response(http::Status status, std::string body) {
  http::Response response{status, 11};
  response.set(http::Field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

http::Response error_response(const ApiError& error) {
  auto response = json_response(static_cast<http::Status>(error.status), error_body(error));
  if (error.retry_after_s > 0) response.set(http::Field::retry_after, std::to_string(error.retry_after_s));
  return response;
}

}  // namespace tide::server
