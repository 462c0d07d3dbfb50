#pragma once
// One bounded GET to a plain-HTTP base URL ("http://host:port" with an optional path prefix),
// as both signal sources use it: a replica's or gateway's /metrics, or Prometheus's query API.
#include <chrono>
#include <cstdint>
#include <string>

namespace tide::autoscaler::signals {

struct HttpBase {
  std::string host;
  uint16_t port = 80;
  std::string path;  // prefix without a trailing '/', often empty
};

// Throws tide::Error naming `field` for anything but http://host[:port][/prefix] (https is
// refused with the reason: these endpoints are scraped inside the cluster or host).
HttpBase parse_http_base(const std::string& url, const std::string& field);

struct HttpAnswer {
  int status = 0;
  std::string body;
};
// GETs base.path + target, whatever the answer's status. Throws tide::Error on a network error
// or a timeout.
HttpAnswer http_fetch(const HttpBase& base, const std::string& target, std::chrono::milliseconds timeout);
// GETs base.path + target; returns the body of a 200 answer. Throws tide::Error on a network
// error, a timeout or any other status (with the start of its body).
std::string http_get(const HttpBase& base, const std::string& target, std::chrono::milliseconds timeout);

}  // namespace tide::autoscaler::signals
