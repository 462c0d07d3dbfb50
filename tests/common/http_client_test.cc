// The HTTP client against peers that misbehave on purpose: a raw socket on loopback answers
// what a broken or hostile replica, Prometheus or metrics endpoint might.
#include "common/http/client.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>

#include "common/error.h"

namespace tide::http {
namespace {

namespace net = boost::asio;

// Accepts one connection, reads the request's head, writes `answer` and closes.
class OneAnswerPeer {
 public:
  explicit OneAnswerPeer(std::string answer)
      : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}), answer_(std::move(answer)) {
    thread_ = std::thread([this] {
      net::ip::tcp::socket socket(io_);
      acceptor_.accept(socket);
      net::streambuf head;
      boost::system::error_code ec;
      net::read_until(socket, head, "\r\n\r\n", ec);
      net::write(socket, net::buffer(answer_), ec);
      socket.shutdown(net::ip::tcp::socket::shutdown_both, ec);
    });
  }
  ~OneAnswerPeer() { thread_.join(); }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  net::io_context io_;
  net::ip::tcp::acceptor acceptor_;
  std::string answer_;
  std::thread thread_;
};

// A declared petabyte is refused as a tide::Error (the caller's "scrape failed" path), not
// reserved up front until std::bad_alloc ends the process.
TEST(HttpClient, AHugeDeclaredBodyIsAClearErrorNotAnAllocation) {
  OneAnswerPeer peer("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\nx");
  Client client("127.0.0.1", peer.port(), std::chrono::seconds(5));
  try {
    client.get("/metrics");
    ADD_FAILURE() << "the response was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("body limit"), std::string::npos) << e.what();
  }
}

TEST(HttpClient, AnOrdinaryBodyIsRead) {
  OneAnswerPeer peer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  Client client("127.0.0.1", peer.port(), std::chrono::seconds(5));
  const Response response = client.get("/metrics");
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "hello");
}

}  // namespace
}  // namespace tide::http
