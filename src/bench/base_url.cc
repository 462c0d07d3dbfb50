#include "bench/base_url.h"

#include <fmt/format.h>

#include <charconv>

#include "common/error.h"

namespace tide::bench {
namespace {

bool is_loopback(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.a.b.c with every part a number: "127.evil.example" is a name, not an address.
  if (!host.starts_with("127.")) return false;
  int parts = 0;
  for (std::size_t start = 0; start <= host.size(); ++parts) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view part = host.substr(start, dot - start);
    int value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || value > 255) return false;
    start = dot + 1;
  }
  return parts == 4;
}

}  // namespace

std::string BaseUrl::text() const {
  return host.find(':') == std::string::npos ? fmt::format("http://{}:{}", host, port)
                                             : fmt::format("http://[{}]:{}", host, port);
}

BaseUrl parse_base_url(std::string_view url, bool allow_remote) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme))
    fail("--url '{}': must start with http:// (the benchmark speaks plain HTTP/1.1)", url);
  std::string_view rest = url.substr(scheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos)
    fail("--url '{}': give only http://HOST:PORT; the endpoint path is chosen by --endpoint", url);

  BaseUrl base;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) fail("--url '{}': unclosed '[' in the IPv6 address", url);
    base.host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) fail("--url '{}': expected ':PORT' after ']'", url);
    if (!rest.empty()) port = rest.substr(1);
  } else {
    const auto colon = rest.find(':');
    base.host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (base.host.empty()) fail("--url '{}': no host", url);
  if (!port.empty() || rest.ends_with(':')) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
      fail("--url '{}': the port must be a number in [1, 65535]", url);
    base.port = static_cast<uint16_t>(value);
  }
  if (!allow_remote && !is_loopback(base.host))
    fail("--url '{}': {} is not a loopback address; pass --allow-remote to load a server on another machine", url,
         base.host);
  return base;
}

}  // namespace tide::bench
