#pragma once
// Parsing a request body as JSON, safely: malformed JSON, invalid UTF-8 inside strings and
// nesting deeper than a limit are all a 400 ApiError. The depth is checked while parsing, so a
// body of a million '[' is refused before a deep document is ever built.
#include <nlohmann/json.hpp>

#include <string_view>

namespace tide::server {

constexpr int kDefaultMaxJsonDepth = 64;

// Object keys keep the client's order (chat templates print tools with tojson, as Python would).
// Throws ApiError(400) naming the problem and where it is.
nlohmann::ordered_json parse_json_body(std::string_view body, int max_depth = kDefaultMaxJsonDepth);

}  // namespace tide::server
