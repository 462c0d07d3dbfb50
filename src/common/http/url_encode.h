#pragma once
// Percent-encoding of a URL query parameter: everything but RFC 3986's unreserved characters
// (a PromQL query, a Kubernetes label selector with '=', ',' and '!').
#include <string>
#include <string_view>

namespace tide::http {

std::string url_encode(std::string_view text);

}  // namespace tide::http
