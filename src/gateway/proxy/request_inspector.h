#pragma once
// Reads what routing needs from an OpenAI-style request body, and refuses what must never reach
// a replica: a body that is not a JSON object, nesting beyond the limit, invalid UTF-8, or a
// field of the wrong type among those the gateway reads. Everything else is the replica's to
// validate; the body goes on byte for byte.
#include <string>
#include <string_view>

#include "gateway/proxy/endpoint.h"

namespace tide::gateway {

// Throws server::ApiError(400) naming the field at fault.
RequestTraits inspect_generation_request(std::string_view body, int max_json_depth = 64);

// The request id to use: the client's `x-request-id` when it is a short printable token, else
// a fresh random one.
std::string request_id_from(std::string_view client_value);

}  // namespace tide::gateway
