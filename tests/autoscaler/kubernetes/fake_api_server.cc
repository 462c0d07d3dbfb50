#include "fake_api_server.h"

#include <fmt/format.h>

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tide::autoscaler::kubernetes::testing {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using net::ip::tcp;

FakeApiServer::FakeApiServer(Handler handler, net::ssl::context* tls)
    : handler_(std::move(handler)), tls_(tls), acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  thread_ = std::thread([this] {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = acceptor_.accept(ec);
      if (stopping_ || ec) return;
      serve(std::move(socket));
    }
  });
}

FakeApiServer::~FakeApiServer() {
  stopping_ = true;
  // Wake the blocking accept with a connection of our own.
  boost::system::error_code ec;
  tcp::socket wake(io_);
  wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
  thread_.join();
}

std::vector<Request> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeApiServer::serve(tcp::socket socket) {
  auto exchange = [&](auto& stream) {
    boost::beast::flat_buffer buffer;
    Request request;
    boost::system::error_code ec;
    bhttp::read(stream, buffer, request, ec);
    if (ec) return;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    Response response = handler_(request);
    response.keep_alive(false);
    response.prepare_payload();
    bhttp::write(stream, response, ec);
  };
  if (!tls_) {
    exchange(socket);
    return;
  }
  net::ssl::stream<tcp::socket&> stream(socket, *tls_);
  boost::system::error_code ec;
  stream.handshake(net::ssl::stream_base::server, ec);
  if (ec) {
    ++failed_handshakes_;
    return;
  }
  exchange(stream);
}

Response json_response(int status, const std::string& body) {
  Response response{static_cast<bhttp::status>(status), 11};
  response.set(bhttp::field::content_type, "application/json");
  response.body() = body;
  return response;
}

Response status_response(int code, const std::string& reason, const std::string& message) {
  return json_response(code, fmt::format(R"({{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure",)"
                                         R"("message":"{}","reason":"{}","code":{}}})",
                                         message, reason, code));
}

namespace {

void sh(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
}

}  // namespace

TestPki::TestPki() {
  char pattern[] = "/tmp/tide-pki-XXXXXX";
  dir = mkdtemp(pattern);
  ca_crt = dir + "/ca.crt";
  server_crt = dir + "/server.crt";
  server_key = dir + "/server.key";
  client_crt = dir + "/client.crt";
  client_key = dir + "/client.key";
  other_ca_crt = dir + "/other-ca.crt";
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::ofstream(dir + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
  sh(fmt::format("cd {} && openssl req -x509 {} -keyout ca.key -out ca.crt -subj /CN=tide-test-ca -days 2", dir, ec));
  sh(fmt::format("cd {} && openssl req -x509 {} -keyout other-ca.key -out other-ca.crt -subj /CN=other-ca -days 2", dir,
                 ec));
  sh(
      fmt::format("cd {} && openssl req {} -keyout server.key -out server.csr -subj /CN=kubernetes && openssl x509 "
                  "-req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile "
                  "server.ext",
                  dir, ec));
  sh(
      fmt::format("cd {} && openssl req {} -keyout client.key -out client.csr -subj /CN=tide-autoscaler && openssl "
                  "x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile "
                  "client.ext",
                  dir, ec));
}

TestPki::~TestPki() { std::filesystem::remove_all(dir); }

std::string TestPki::read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace tide::autoscaler::kubernetes::testing
