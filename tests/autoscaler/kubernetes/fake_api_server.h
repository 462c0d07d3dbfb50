#pragma once
// A stand-in for a Kubernetes API server on 127.0.0.1, plain HTTP or HTTPS: it records every
// request as received and answers what the test's handler returns. One request per connection
// (as the actuator's client sends), served on one thread.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tide::autoscaler::kubernetes::testing {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

class FakeApiServer {
 public:
  using Handler = std::function<Response(const Request&)>;
  // `tls` null: plain HTTP.
  explicit FakeApiServer(Handler handler, boost::asio::ssl::context* tls = nullptr);
  ~FakeApiServer();

  uint16_t port() const { return port_; }
  std::vector<Request> requests() const;
  // TLS handshakes that failed (the client refused the certificate, or sent none).
  int failed_handshakes() const { return failed_handshakes_; }

 private:
  void serve(boost::asio::ip::tcp::socket socket);

  Handler handler_;
  boost::asio::ssl::context* tls_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> failed_handshakes_{0};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

// A JSON answer with `status`.
Response json_response(int status, const std::string& body);
// A Status object as the API server sends with an error (kind Status, status Failure).
Response status_response(int code, const std::string& reason, const std::string& message);

// A test PKI made with the openssl CLI in a fresh temp directory: a CA, a server certificate
// for 127.0.0.1 and localhost signed by it, a client certificate signed by it, and an unrelated
// second CA.
struct TestPki {
  TestPki();
  ~TestPki();
  std::string dir;
  std::string ca_crt, server_crt, server_key, client_crt, client_key, other_ca_crt;  // paths
  static std::string read(const std::string& path);
};

}  // namespace tide::autoscaler::kubernetes::testing
