// Request bodies and request ids as a client could send them to the gateway, through what it reads
// before choosing a replica (inspect_generation_request, request_id_from). Rejecting a body with
// ApiError is the contract; any other exception, crash or sanitizer report is a bug. And what it
// lets through must be what it promises the replicas: a JSON object a full parse accepts, nested
// no deeper than the limit. Its fast reading (simdjson) must agree with its reference reading
// (nlohmann) on every body the fast one accepts.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gateway/proxy/request_inspector.h"
#include "gateway/proxy/traits_reading.h"
#include "server/api_error.h"

namespace {

constexpr int kMaxDepth = 16;

int depth_of(const nlohmann::json& value) {
  int deepest = 0;
  if (value.is_structured())
    for (const auto& child : value) deepest = std::max(deepest, depth_of(child));
  return value.is_structured() ? deepest + 1 : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first line doubles as a client's x-request-id: an id is always made, printable.
  const std::string id = tide::gateway::request_id_from(input.substr(0, input.find('\n')));
  if (id.empty()) std::abort();
  for (const char c : id)
    if (c < 0x21 || c > 0x7e) std::abort();
  // The fast reading never throws, and what it accepts the reference reading accepts alike.
  const auto fast = tide::gateway::detail::read_traits_fast(input, kMaxDepth);
  try {
    tide::gateway::inspect_generation_request(input, kMaxDepth);
  } catch (const tide::server::ApiError&) {
    if (fast) std::abort();
    return 0;
  }
  if (fast && *fast != tide::gateway::detail::read_traits_reference(input, kMaxDepth)) std::abort();
  // Accepted: a replica's full parse must accept it too, as an object within the depth limit.
  const auto document = nlohmann::json::parse(input, nullptr, false);
  if (document.is_discarded() || !document.is_object() || depth_of(document) > kMaxDepth) std::abort();
  return 0;
}
