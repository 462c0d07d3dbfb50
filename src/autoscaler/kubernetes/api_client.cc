#include "autoscaler/kubernetes/api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <limits>

#include "common/error.h"

namespace tide::autoscaler::kubernetes {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

bool is_ip(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// Runs `io` until the pending operation finishes; throws naming the step when it failed.
void run(net::io_context& io, const error_code& result, const std::string& server, const char* step) {
  io.restart();
  io.run();
  if (result) {
    if (result == beast::error::timeout) fail("Kubernetes API {}: {}: timed out", server, step);
    fail("Kubernetes API {}: {}: {}", server, step, result.message());
  }
}

}  // namespace

ApiClient::ApiClient(ClusterAccess access, std::chrono::milliseconds timeout)
    : access_(std::move(access)), timeout_(timeout) {
  if (access_.scheme != "https") return;
  tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  const std::string& origin = access_.origin;
  try {
    if (!access_.ca_file.empty())
      access_.ca_pem = read_access_file(access_.ca_file, "kubernetes", "certificate authority");
    if (!access_.ca_pem.empty())
      tls_->add_certificate_authority(net::buffer(access_.ca_pem));
    else
      tls_->set_default_verify_paths();
  } catch (const boost::system::system_error& e) {
    fail("{}: certificate authority{}: not a PEM certificate ({})", origin,
         access_.ca_file.empty() ? "" : " " + access_.ca_file, e.code().message());
  }
  if (!access_.client_cert_file.empty())
    access_.client_cert_pem = read_access_file(access_.client_cert_file, "kubernetes", "client certificate");
  if (!access_.client_key_file.empty())
    access_.client_key_pem = read_access_file(access_.client_key_file, "kubernetes", "client key");
  if (!access_.client_cert_pem.empty()) {
    error_code ec;
    tls_->use_certificate_chain(net::buffer(access_.client_cert_pem), ec);
    if (ec) fail("{}: client certificate: not a PEM certificate ({})", origin, ec.message());
    tls_->use_private_key(net::buffer(access_.client_key_pem), ssl::context::pem, ec);
    if (ec) fail("{}: client key: not a PEM private key matching the certificate ({})", origin, ec.message());
  }
}

std::string ApiClient::server_url() const {
  const std::string host = access_.host.find(':') != std::string::npos ? "[" + access_.host + "]" : access_.host;
  return fmt::format("{}://{}:{}{}", access_.scheme, host, access_.port, access_.base_path);
}

ApiRequest ApiClient::build(bhttp::verb verb, const std::string& path, const std::string& body,
                            const std::string& content_type) const {
  ApiRequest request{verb, access_.base_path + path, 11};
  const bool default_port = access_.port == (access_.scheme == "https" ? 443 : 80);
  const std::string host = access_.host.find(':') != std::string::npos ? "[" + access_.host + "]" : access_.host;
  request.set(bhttp::field::host, default_port ? host : fmt::format("{}:{}", host, access_.port));
  request.set(bhttp::field::accept, "application/json");
  request.set(bhttp::field::user_agent, "tide-autoscaler");
  std::string token = access_.token;
  if (token.empty() && !access_.token_file.empty()) {
    token = trim(read_access_file(access_.token_file, "kubernetes", "token file"));
    if (token.empty()) fail("{}: token file {} is empty", access_.origin, access_.token_file);
  }
  if (!token.empty()) request.set(bhttp::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    request.set(bhttp::field::content_type, content_type);
    request.body() = body;
  }
  request.prepare_payload();
  return request;
}

ApiResponse ApiClient::send(ApiRequest request) {
  const std::string server = server_url();
  net::io_context io;
  error_code result;
  net::ip::tcp::resolver resolver(io);
  net::ip::tcp::resolver::results_type endpoints;
  resolver.async_resolve(access_.host, std::to_string(access_.port), [&](error_code ec, auto found) {
    result = ec;
    endpoints = std::move(found);
  });
  // The resolver has no expiry of its own: bound it with the io_context's run time.
  io.run_for(timeout_);
  if (!io.stopped()) {
    resolver.cancel();
    fail("Kubernetes API {}: resolve {}: timed out", server, access_.host);
  }
  if (result) fail("Kubernetes API {}: resolve {}: {}", server, access_.host, result.message());

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::size_t{64} << 20);

  auto exchange = [&](auto& stream, beast::tcp_stream& tcp) {
    tcp.expires_after(timeout_);
    bhttp::async_write(stream, request, [&](error_code ec, std::size_t) { result = ec; });
    run(io, result, server, "send request");
    tcp.expires_after(timeout_);
    bhttp::async_read(stream, buffer, parser, [&](error_code ec, std::size_t) { result = ec; });
    run(io, result, server, "read response");
  };

  if (!tls_) {
    beast::tcp_stream tcp(io);
    tcp.expires_after(timeout_);
    tcp.async_connect(endpoints, [&](error_code ec, const auto&) { result = ec; });
    run(io, result, server, "connect");
    exchange(tcp, tcp);
    error_code ignored;
    tcp.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    return parser.release();
  }

  beast::ssl_stream<beast::tcp_stream> stream(io, *tls_);
  beast::tcp_stream& tcp = beast::get_lowest_layer(stream);
  const std::string& name = access_.tls_server_name.empty() ? access_.host : access_.tls_server_name;
  // SNI carries host names only, never addresses (RFC 6066).
  if (!is_ip(name) && !SSL_set_tlsext_host_name(stream.native_handle(), name.c_str()))
    fail("Kubernetes API {}: cannot set the TLS server name \"{}\"", server, name);
  if (access_.insecure_skip_tls_verify) {
    stream.set_verify_mode(ssl::verify_none);
  } else {
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification(name));
  }
  tcp.expires_after(timeout_);
  tcp.async_connect(endpoints, [&](error_code ec, const auto&) { result = ec; });
  run(io, result, server, "connect");
  tcp.expires_after(timeout_);
  stream.async_handshake(ssl::stream_base::client, [&](error_code ec) { result = ec; });
  try {
    run(io, result, server, "TLS handshake");
  } catch (const Error& e) {
    const long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK)
      fail("{} (certificate verification: {}; check the cluster's certificate-authority{})", e.what(),
           X509_verify_cert_error_string(verify), access_.tls_server_name.empty() ? " and the server name" : "");
    throw;
  }
  exchange(stream, tcp);
  // No TLS close_notify round trip: the answer is complete, and a server that never answers
  // it would cost a timeout per call.
  error_code ignored;
  tcp.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  return parser.release();
}

}  // namespace tide::autoscaler::kubernetes
