// The HTTP stack over loopback: limits, timeouts, keep-alive, streaming with backpressure,
// disconnect detection and graceful shutdown.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <thread>

#include "common/error.h"
#include "common/http/client.h"
#include "common/http/server.h"
#include "common/http/sse_writer.h"

namespace tide::http {
namespace {
using namespace std::chrono_literals;
namespace net = boost::asio;

Response text(Status status, std::string body) {
  Response response{status, 11};
  response.set(Field::content_type, "text/plain");
  response.body() = std::move(body);
  return response;
}

// A blocking socket that speaks raw bytes, for what the Client is too well-behaved to do.
class Raw {
 public:
  explicit Raw(uint16_t port) : socket_(io_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    timeval tv{5, 0};  // never hang a test on a read
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& bytes) { net::write(socket_, net::buffer(bytes)); }
  // Everything until the server closes the connection (or 5 s pass).
  std::string read_until_close() {
    std::string out;
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, n);
    }
  }
  // Exactly `size` bytes, or fewer if the server closes first (or 5 s pass).
  std::string read_some(std::size_t size) {
    std::string out(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      const ssize_t n = ::recv(socket_.native_handle(), out.data() + got, size - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
  }
  int fd() { return socket_.native_handle(); }
  bool closed_by_server() {
    char c;
    return ::recv(socket_.native_handle(), &c, 1, 0) == 0;
  }

 private:
  net::io_context io_;
  net::ip::tcp::socket socket_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(Handler handler, ServerOptions options = {}) {
    options.port = 0;
    server_ = std::make_unique<Server>(std::move(options), std::move(handler));
    server_->start();
  }
  Client client() { return Client("127.0.0.1", server_->port(), 10s); }
  void TearDown() override {
    if (server_) server_->shutdown(1s);
  }

  std::unique_ptr<Server> server_;
};

Handler echo() {
  return [](std::shared_ptr<Exchange> exchange) {
    exchange->respond(text(Status::ok, std::string(exchange->request().target()) + ":" + exchange->request().body()));
  };
}

TEST_F(HttpServerTest, AnswersAndKeepsTheConnectionAlive) {
  start(echo());
  auto c = client();
  EXPECT_EQ(c.get("/a").body(), "/a:");
  auto response = c.post_json("/b", "{}");
  EXPECT_EQ(response.result(), Status::ok);
  EXPECT_EQ(response.body(), "/b:{}");
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start(echo());
  Raw raw(server_->port());
  raw.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string out = raw.read_until_close();
  const auto first = out.find("/1:"), second = out.find("/2:");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  ServerOptions options;
  options.max_body_bytes = 100;
  start(echo(), options);
  auto c = client();
  EXPECT_EQ(c.post_json("/", std::string(101, 'x')).result(), Status::payload_too_large);
  // A chunked body is counted as it arrives.
  Raw raw(server_->port());
  raw.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'a') + "\r\n40\r\n" +
           std::string(64, 'b') + "\r\n0\r\n\r\n");
  EXPECT_NE(raw.read_until_close().find("413"), std::string::npos);
}

TEST_F(HttpServerTest, HeadersOverTheLimitAre431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  start(echo(), options);
  auto c = client();
  EXPECT_EQ(c.get("/", {{"X-Big", std::string(2000, 'h')}}).result(), Status::request_header_fields_too_large);
}

TEST_F(HttpServerTest, MalformedRequestIs400) {
  start(echo());
  Raw raw(server_->port());
  raw.send("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_NE(raw.read_until_close().find("400 Bad Request"), std::string::npos);
}

TEST_F(HttpServerTest, ErrorsUseTheConfiguredFormat) {
  ServerOptions options;
  options.max_body_bytes = 10;
  options.error_response = [](Status status, const std::string& message) {
    Response response{status, 11};
    response.set(Field::content_type, "application/json");
    response.body() = "{\"error\":\"" + message + "\"}";
    return response;
  };
  start(echo(), options);
  auto c = client();
  auto response = c.post_json("/", std::string(50, 'x'));
  EXPECT_EQ(response.result(), Status::payload_too_large);
  EXPECT_EQ(response[Field::content_type], "application/json");
  EXPECT_NE(response.body().find("exceeds 10 bytes"), std::string::npos);
}

TEST_F(HttpServerTest, SlowClientIsClosed) {
  ServerOptions options;
  options.read_timeout = 200ms;
  start(echo(), options);
  Raw raw(server_->port());
  raw.send("GET / HTTP/1.1\r\nHo");  // ... and never the rest
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(raw.closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(HttpServerTest, IdleConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  start(echo(), options);
  Raw raw(server_->port());
  EXPECT_TRUE(raw.closed_by_server());
}

// Each phase's deadline counts from when the phase begins: a connection busy with requests
// for longer than any one timeout stays open, and a slow request after kept-alive ones is
// still cut off by the read timeout.
TEST_F(HttpServerTest, TimeoutsCountFromEachPhase) {
  ServerOptions options;
  options.read_timeout = 300ms;
  options.idle_timeout = 300ms;
  start(echo(), options);
  auto c = client();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(c.get("/k").body(), "/k:") << "request " << i;
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(HttpServerTest, SlowRequestAfterKeptAliveOnesIsClosed) {
  ServerOptions options;
  options.read_timeout = 200ms;
  start(echo(), options);
  Raw raw(server_->port());
  raw.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[256];
  ASSERT_GT(::recv(raw.fd(), buf, sizeof buf, 0), 0);
  std::this_thread::sleep_for(300ms);  // past the first read deadline: idling is allowed
  raw.send("GET /2 HTTP/1.1\r\nHo");   // ... and never the rest
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(raw.closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(HttpServerTest, ConnectionsOverTheCapAre503) {
  ServerOptions options;
  options.max_connections = 1;
  std::shared_ptr<Exchange> held;
  std::promise<void> holding;
  start(
      [&](std::shared_ptr<Exchange> exchange) {
        held = exchange;  // busy: never answered
        holding.set_value();
      },
      options);
  Raw first(server_->port());
  first.send("GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
  // Until its request is read, the first connection counts as idle and would be evicted to make
  // room for the second, instead of the second being refused: wait until the handler holds it.
  ASSERT_EQ(holding.get_future().wait_for(5s), std::future_status::ready);
  Raw second(server_->port());
  EXPECT_NE(second.read_until_close().find("503"), std::string::npos);
  held.reset();
}

TEST_F(HttpServerTest, IdleConnectionsMakeRoomAtTheCap) {
  ServerOptions options;
  options.max_connections = 4;
  start(echo(), options);
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(std::make_unique<Raw>(server_->port()));
  std::this_thread::sleep_for(100ms);
  auto c = client();
  EXPECT_EQ(c.get("/served").body(), "/served:");
  EXPECT_TRUE(idle.front()->closed_by_server());  // the oldest idle one went first
  // An evicted session leaves the count when it is destroyed on its own io loop, which may not
  // have run yet.
  for (int i = 0; i < 300 && server_->connections() > 5; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_LE(server_->connections(), 5);
}

TEST_F(HttpServerTest, Expect100ContinueBeforeTheBodyIsSent) {
  start(echo());
  Raw raw(server_->port());
  raw.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  const std::string go_ahead = "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(raw.read_some(go_ahead.size()), go_ahead);  // as curl does, the body waits for it
  raw.send("hi");
  const std::string out = raw.read_until_close();
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("/e:hi"), std::string::npos);
}

TEST_F(HttpServerTest, Expect100ContinueWithTheBodyAlreadySentIsJustAnswered) {
  // RFC 9110 §10.1.1: a server may omit the 100 once it has the body.
  start(echo());
  Raw raw(server_->port());
  raw.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhi");
  const std::string out = raw.read_until_close();
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("/e:hi"), std::string::npos);
}

TEST_F(HttpServerTest, HandlerThatThrowsGives500) {
  start([](std::shared_ptr<Exchange>) { throw std::runtime_error("boom"); });
  auto c = client();
  EXPECT_EQ(c.get("/").result(), Status::internal_server_error);
  EXPECT_EQ(c.get("/").result(), Status::internal_server_error);  // and the connection survives
}

TEST_F(HttpServerTest, DroppedExchangeGives500) {
  start([](std::shared_ptr<Exchange>) {});
  auto c = client();
  EXPECT_EQ(c.get("/").result(), Status::internal_server_error);
}

TEST_F(HttpServerTest, AnswerFromAnotherThreadLater) {
  std::vector<std::thread> workers;
  start([&](std::shared_ptr<Exchange> exchange) {
    workers.emplace_back([exchange] {
      std::this_thread::sleep_for(50ms);
      exchange->respond(text(Status::accepted, "later"));
    });
  });
  auto c = client();
  auto response = c.get("/");
  EXPECT_EQ(response.result(), Status::accepted);
  EXPECT_EQ(response.body(), "later");
  for (auto& w : workers) w.join();
}

// Writes `count` events, each only after the previous write completed, then ends.
struct Producer : std::enable_shared_from_this<Producer> {
  std::shared_ptr<SseWriter> writer;
  int next = 0, count = 0;
  void pump() {
    if (next == count) return writer->end();
    writer->write(sse_event("event " + std::to_string(next++)), [self = shared_from_this()](bool ok) {
      if (ok) self->pump();
    });
  }
};

TEST_F(HttpServerTest, StreamsEventsThenServesTheNextRequest) {
  start([](std::shared_ptr<Exchange> exchange) {
    if (exchange->request().target() != "/stream") return exchange->respond(text(Status::ok, "plain"));
    auto producer = std::make_shared<Producer>();
    producer->writer = exchange->start_sse(Response{Status::ok, 11});
    producer->count = 50;
    producer->pump();
  });
  auto c = client();
  std::vector<std::string> events;
  auto head = c.post_sse("/stream", "{}", [&](const std::string& data) {
    events.push_back(data);
    return true;
  });
  EXPECT_EQ(head.result(), Status::ok);
  EXPECT_EQ(head[Field::content_type], "text/event-stream");
  ASSERT_EQ(events.size(), 50u);
  EXPECT_EQ(events[0], "event 0");
  EXPECT_EQ(events[49], "event 49");
  EXPECT_EQ(c.get("/").body(), "plain");
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(HttpServerTest, WritingWhileAWriteIsInFlightIsRefused) {
  std::promise<bool> refused;
  start([&](std::shared_ptr<Exchange> exchange) {
    auto writer = exchange->start_sse(Response{Status::ok, 11});
    writer->write(sse_event("a"), [writer](bool) { writer->end(); });
    try {
      writer->write(sse_event("b"), [](bool) {});
      refused.set_value(false);
    } catch (const std::logic_error&) {
      refused.set_value(true);
    }
  });
  auto c = client();
  c.post_sse("/", "{}", [](const std::string&) { return true; });
  EXPECT_TRUE(refused.get_future().get());
}

TEST_F(HttpServerTest, ClientGoneWhileWaitingIsReported) {
  std::promise<void> gone;
  std::shared_ptr<Exchange> held;
  start([&](std::shared_ptr<Exchange> exchange) {
    held = exchange;  // never answered: the client gives up first
    exchange->on_disconnect([&] { gone.set_value(); });
  });
  {
    Raw raw(server_->port());
    raw.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(gone.get_future().wait_for(5s), std::future_status::ready);
  held.reset();
}

TEST_F(HttpServerTest, ClientGoneMidStreamIsReported) {
  std::promise<void> gone;
  std::atomic<bool> fired{false};
  // The stream is kept open by the test, so only watching the client can tell it left.
  std::mutex kept_mutex;
  std::shared_ptr<void> kept;
  start([&](std::shared_ptr<Exchange> exchange) {
    exchange->on_disconnect([&] {
      if (!fired.exchange(true)) gone.set_value();
    });
    auto writer = exchange->start_sse(Response{Status::ok, 11});
    // One event now, then nothing more: the stream stays open until the client leaves.
    writer->write(sse_event("first"), [writer](bool) {});
    std::lock_guard lock(kept_mutex);
    kept = writer;
  });
  auto c = client();
  int seen = 0;
  c.post_sse("/", "{}", [&](const std::string&) {
    ++seen;
    return false;  // hang up after the first event
  });
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(gone.get_future().wait_for(5s), std::future_status::ready);
  std::lock_guard lock(kept_mutex);
  kept.reset();
}

TEST_F(HttpServerTest, ShutdownLetsInFlightRequestsFinish) {
  std::vector<std::thread> workers;
  std::promise<void> received;
  start([&](std::shared_ptr<Exchange> exchange) {
    received.set_value();
    workers.emplace_back([exchange] {
      std::this_thread::sleep_for(300ms);
      exchange->respond(text(Status::ok, "finished"));
    });
  });
  auto answer = std::async(std::launch::async, [&] {
    auto c = client();
    return c.get("/slow");
  });
  received.get_future().wait();
  const uint16_t port = server_->port();
  server_->shutdown(5s);
  auto response = answer.get();
  EXPECT_EQ(response.result(), Status::ok);
  EXPECT_EQ(response.body(), "finished");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_THROW(Client("127.0.0.1", port, 1s).get("/"), Error);  // no longer accepting
  for (auto& w : workers) w.join();
}

TEST_F(HttpServerTest, BindFailureNamesTheAddress) {
  start(echo());
  ServerOptions options;
  options.port = server_->port();
  Server second(options, echo());
  try {
    second.start();
    FAIL() << "bound a port already in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(server_->port())), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tide::http
