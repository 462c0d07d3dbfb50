#pragma once
// A small blocking HTTP/1.1 client for tools and tests (`tide bench serve`, the server's tests):
// one connection, reused while the server keeps it alive, every step bounded by a timeout.
// Not thread-safe: one Client per thread.
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/http/exchange.h"

namespace tide::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

class Client {
 public:
  // `timeout` bounds connecting, sending, and each wait for response bytes.
  Client(std::string host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Sends a request and reads the whole response. Throws tide::Error on a network error or
  // timeout (naming the host, port and step).
  Response request(Verb verb, const std::string& target, std::string body = {}, const Headers& headers = {});
  Response get(const std::string& target, const Headers& headers = {});
  Response post_json(const std::string& target, std::string body, const Headers& headers = {});

  // POSTs `body` and reads the response as Server-Sent Events: `on_event` gets each event's data
  // as soon as it arrives; returning false stops reading and closes the connection (the server
  // sees the client go away). Returns the response's status and headers; its body holds the
  // response only when it was not an event stream (an error).
  Response post_sse(const std::string& target, std::string body, const std::function<bool(const std::string&)>& on_event,
                    const Headers& headers = {});

  void close();

 private:
  void connect();
  void send(Verb verb, const std::string& target, std::string body, const Headers& headers,
            const std::string& content_type);
  // Runs the io_context until the pending operation completes; throws on error.
  void run(const char* step);

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context io_;
  std::optional<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code result_;
};

}  // namespace tide::http
