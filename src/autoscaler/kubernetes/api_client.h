#pragma once
// Calls to a Kubernetes API server over HTTPS (Boost.Beast on OpenSSL) or plain HTTP (kubectl
// proxy, tests). The server's certificate is verified against the cluster's CA, with SNI and
// host-name (or IP) verification; a client certificate and a bearer token authenticate. One
// connection per call: the autoscaler makes a few calls per control tick, and a fresh
// connection never trips over one the server closed. Every step is bounded by the timeout.
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "autoscaler/kubernetes/cluster_access.h"

namespace tide::autoscaler::kubernetes {

using ApiRequest = boost::beast::http::request<boost::beast::http::string_body>;
using ApiResponse = boost::beast::http::response<boost::beast::http::string_body>;

class ApiClient {
 public:
  // Loads the CA, client certificate and key now; throws tide::Error naming a file or field
  // that cannot be read or is not PEM.
  ApiClient(ClusterAccess access, std::chrono::milliseconds timeout);

  // The request as it goes on the wire: target prefixed with the server's base path, Host,
  // Accept: application/json, User-Agent, Authorization: Bearer (the token read now), and
  // Content-Type when there is a body.
  ApiRequest build(boost::beast::http::verb verb, const std::string& path, const std::string& body,
                   const std::string& content_type) const;
  // Sends it and reads the answer, whatever its status. Throws tide::Error on a network or TLS
  // failure or timeout, naming the server and the step.
  ApiResponse send(ApiRequest request);

  // "https://host:port" + base path, for logs and dry runs.
  std::string server_url() const;
  const ClusterAccess& access() const { return access_; }

 private:
  ClusterAccess access_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace tide::autoscaler::kubernetes
