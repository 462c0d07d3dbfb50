#pragma once
// The server under test, from --url. Only loopback hosts are accepted unless remote traffic is
// explicitly allowed: a load generator pointed at the wrong address is a denial of service, and
// tests must never send traffic off the machine.
#include <cstdint>
#include <string>
#include <string_view>

namespace tide::bench {

struct BaseUrl {
  std::string host;  // as given; IPv6 without brackets
  uint16_t port = 80;
  std::string text() const;  // http://host:port
};

// Accepts http://HOST[:PORT][/] (HOST a name, IPv4, or [IPv6]). Throws tide::Error naming --url
// for anything else (https, a path, a bad port) and for a non-loopback host without
// `allow_remote`. Loopback means localhost, 127.0.0.0/8 or ::1, checked on the text: resolving
// a name could give a different answer at connect time.
BaseUrl parse_base_url(std::string_view url, bool allow_remote);

}  // namespace tide::bench
