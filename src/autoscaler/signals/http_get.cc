#include "autoscaler/signals/http_get.h"

#include <charconv>

#include "common/error.h"
#include "common/http/client.h"

namespace tide::autoscaler::signals {

HttpBase parse_http_base(const std::string& url, const std::string& field) {
  if (url.starts_with("https://"))
    fail(
        "{}: \"{}\": https is not supported for metrics and Prometheus endpoints; use http:// (inside the cluster "
        "or through a sidecar)",
        field, url);
  if (!url.starts_with("http://")) fail("{}: \"{}\" must start with http://", field, url);
  const std::string rest = url.substr(7);
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  HttpBase base;
  base.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!base.path.empty() && base.path.back() == '/') base.path.pop_back();
  std::string port_text;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) fail("{}: \"{}\": unclosed '['", field, url);
    base.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') fail("{}: \"{}\": expected ':' after the address", field, url);
      port_text = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    base.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (base.host.empty()) fail("{}: \"{}\": no host", field, url);
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      fail("{}: \"{}\": port \"{}\" is not 1..65535", field, url, port_text);
    base.port = static_cast<uint16_t>(port);
  }
  return base;
}

HttpAnswer http_fetch(const HttpBase& base, const std::string& target, std::chrono::milliseconds timeout) {
  http::Client client(base.host, base.port, timeout);
  http::Response response = client.get(base.path + target);
  return {static_cast<int>(response.result_int()), std::move(response.body())};
}

std::string http_get(const HttpBase& base, const std::string& target, std::chrono::milliseconds timeout) {
  HttpAnswer answer = http_fetch(base, target, timeout);
  if (answer.status != 200)
    fail("GET http://{}:{}{}{}: HTTP {}: {}", base.host, base.port, base.path, target, answer.status,
         answer.body.size() > 200 ? answer.body.substr(0, 200) + "..." : answer.body);
  return std::move(answer.body);
}

}  // namespace tide::autoscaler::signals
