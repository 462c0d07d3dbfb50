#include "common/http/client.h"

#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "common/error.h"
#include "common/http/sse_parser.h"

namespace tide::http {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

// The largest response body a client takes (event streams aside, which are consumed as they
// arrive): far above any metrics page, health answer or completion. Past it the read fails with
// a tide::Error naming the host and "body limit exceeded". The header is always read on its own
// first: Beast 1.74 checks a declared Content-Length against the limit only after setting up to
// read the body, and a whole-message read then went on to reserve it (a declared petabyte threw
// std::bad_alloc out of the read); read on its own, the header's read fails with the limit.
constexpr std::uint64_t kMaxResponseBody = std::uint64_t{64} << 20;

}  // namespace

Client::Client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

void Client::run(const char* step) {
  result_ = {};
  io_.restart();
  io_.run();
  if (result_) {
    close();
    fail("HTTP {}:{}: {}: {}", host_, port_, step, result_.message());
  }
}

void Client::connect() {
  if (stream_ && stream_->socket().is_open()) return;
  net::ip::tcp::resolver resolver(io_);
  error_code ec;
  auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
  if (ec) fail("HTTP {}:{}: cannot resolve: {}", host_, port_, ec.message());
  stream_.emplace(io_);
  buffer_.clear();
  stream_->expires_after(timeout_);
  stream_->async_connect(endpoints, [this](error_code ec, const auto&) { result_ = ec; });
  run("connect");
}

void Client::close() {
  if (!stream_) return;
  error_code ignored;
  stream_->socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  stream_->close();
  stream_.reset();
}

void Client::send(Verb verb, const std::string& target, std::string body, const Headers& headers,
                  const std::string& content_type) {
  connect();
  Request request{verb, target, 11};
  request.set(Field::host, host_);
  if (!body.empty() || verb == Verb::post) request.set(Field::content_type, content_type);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.prepare_payload();
  stream_->expires_after(timeout_);
  bhttp::async_write(*stream_, request, [this](error_code ec, std::size_t) { result_ = ec; });
  run("send");
}

Response Client::request(Verb verb, const std::string& target, std::string body, const Headers& headers) {
  // A kept-alive connection the server has meanwhile closed fails on first use: retry once on a
  // fresh one. (Only safe because the request never reached a handler.)
  for (int attempt = 0;; ++attempt) {
    const bool reused = stream_.has_value();
    try {
      send(verb, target, body, headers, "application/json");
      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      stream_->expires_after(timeout_);
      bhttp::async_read_header(*stream_, buffer_, parser, [this](error_code ec, std::size_t) { result_ = ec; });
      run("read response headers");
      stream_->expires_after(timeout_);
      bhttp::async_read(*stream_, buffer_, parser, [this](error_code ec, std::size_t) { result_ = ec; });
      run("read response");
      Response response = parser.release();
      if (!response.keep_alive()) close();
      return response;
    } catch (const Error&) {
      if (!reused || attempt > 0) throw;
    }
  }
}

Response Client::get(const std::string& target, const Headers& headers) {
  return request(Verb::get, target, {}, headers);
}

Response Client::post_json(const std::string& target, std::string body, const Headers& headers) {
  return request(Verb::post, target, std::move(body), headers);
}

Response Client::post_sse(const std::string& target, std::string body,
                          const std::function<bool(const std::string&)>& on_event, const Headers& headers) {
  Headers with_accept = headers;
  with_accept.emplace_back("Accept", "text/event-stream");
  send(Verb::post, target, std::move(body), with_accept, "application/json");

  bhttp::response_parser<bhttp::string_body> parser;
  // Not boost::none: Beast 1.74 treats a none limit as exceeded once Content-Length is known.
  parser.body_limit(kMaxResponseBody);
  stream_->expires_after(timeout_);
  bhttp::async_read_header(*stream_, buffer_, parser, [this](error_code ec, std::size_t) { result_ = ec; });
  run("read response headers");
  const bool is_stream = parser.get()[Field::content_type].starts_with("text/event-stream");
  if (is_stream) parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // consumed as it arrives
  if (!is_stream) {
    stream_->expires_after(timeout_);
    bhttp::async_read(*stream_, buffer_, parser, [this](error_code ec, std::size_t) { result_ = ec; });
    run("read response");
    Response response = parser.release();
    if (!response.keep_alive()) close();
    return response;
  }

  SseParser events;
  while (!parser.is_done()) {
    stream_->expires_after(timeout_);
    bhttp::async_read_some(*stream_, buffer_, parser, [this](error_code ec, std::size_t) { result_ = ec; });
    run("read event stream");
    // The body is consumed as it arrives, so a long stream never accumulates in memory.
    std::string& received = parser.get().body();
    for (const auto& data : events.feed(received)) {
      if (!on_event(data)) {
        close();
        return parser.release();
      }
    }
    received.clear();
  }
  Response response = parser.release();
  if (!response.keep_alive()) close();
  return response;
}

}  // namespace tide::http
