#pragma once
// A message's start line and header block as one string, for writing it with its body in one
// gather write. Beast's serializer walks the header fields as a chain of buffer views, which
// costs more CPU than the proxy's whole policy on a small request; the same bytes written into
// one string cost a loop and a few appends.
//
// The fields are written as they stand, so Content-Length, Transfer-Encoding and Connection
// must already be set (prepare_payload(), keep_alive()), as before Beast's own serializer.
#include <string>

#include "common/http/exchange.h"

namespace tide::http {

// "HTTP/1.1 code reason", the fields, and the blank line.
std::string wire_head(const Response& response);
// The same into `out` (cleared first), so that a connection reuses one string's capacity.
void wire_head(const Response& response, std::string& out);

}  // namespace tide::http
