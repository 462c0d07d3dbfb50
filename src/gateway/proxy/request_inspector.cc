#include "gateway/proxy/request_inspector.h"

#include <algorithm>
#include <cstdint>
#include <random>

#include "gateway/proxy/traits_reading.h"
#include "server/api_error.h"

namespace tide::gateway {

RequestTraits inspect_generation_request(std::string_view body, int max_json_depth) {
  if (body.empty()) throw server::ApiError(400, "the request body is empty; send a JSON object");
  if (auto traits = detail::read_traits_fast(body, max_json_depth)) return std::move(*traits);
  return detail::read_traits_reference(body, max_json_depth);
}

std::string request_id_from(std::string_view client_value) {
  const bool usable = !client_value.empty() && client_value.size() <= 128 &&
                      std::all_of(client_value.begin(), client_value.end(), [](char c) {
                        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               c == '-' || c == '_' || c == '.' || c == ':';
                      });
  if (usable) return std::string(client_value);
  thread_local std::mt19937_64 random{std::random_device{}()};
  // "gw-" and 16 hex digits, written by hand: formatting it cost as much as the rest of the
  // request's bookkeeping.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "gw-0000000000000000";
  for (uint64_t bits = random(), i = 0; i < 16; ++i, bits >>= 4) id[id.size() - 1 - i] = kHex[bits & 15];
  return id;
}

}  // namespace tide::gateway
