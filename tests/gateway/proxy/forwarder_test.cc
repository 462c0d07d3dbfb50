// The gateway's data path over loopback, against real HTTP servers standing in for replicas:
// JSON and SSE relay, retries to another replica, a replica that dies mid-stream, a client that
// leaves, and requests refused before they reach any replica.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <atomic>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/http/client.h"
#include "common/http/server.h"
#include "common/http/sse_writer.h"
#include "gateway/proxy/gateway_server.h"

namespace tide::gateway {
namespace {
using namespace std::chrono_literals;
namespace net = boost::asio;

// Round robin over fixed endpoints, skipping those tried; up to three attempts.
class FixedSelector : public UpstreamSelector {
 public:
  std::vector<Endpoint> endpoints;
  std::atomic<int> next{0}, started{0}, ended{0}, failures{0}, timeouts{0};

  std::optional<Endpoint> pick(const RequestTraits&, std::span<const std::string> tried) override {
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      const auto& e = endpoints[(next++) % endpoints.size()];
      if (std::find(tried.begin(), tried.end(), e.address) == tried.end()) return e;
    }
    return std::nullopt;
  }
  void on_attempt_start(const Endpoint&) override { started++; }
  void on_attempt_end(const Endpoint&, const AttemptOutcome& o) override {
    ended++;
    if (is_failure(o)) failures++;
    if (o.kind == AttemptOutcome::Kind::Timeout) timeouts++;
  }
  bool may_retry(int attempts) override { return attempts < 3; }
};

class FixedPolicy : public RequestPolicy {
 public:
  explicit FixedPolicy(std::shared_ptr<FixedSelector> selector) : selector_(std::move(selector)) {}
  ForwardPlan plan(const http::Request&, RequestTraits&) override {
    ForwardPlan plan;
    plan.selector = selector_;
    return plan;
  }

 private:
  std::shared_ptr<FixedSelector> selector_;
};

// A stand-in replica: a real HTTP server whose behaviour each test sets.
struct Replica {
  std::unique_ptr<http::Server> server;
  std::atomic<int> hits{0};
  std::atomic<int> disconnects{0};
  // What a replica that hangs keeps unanswered (exchanges, stream writers); let go before the
  // server stops, which an exchange must not outlive.
  std::mutex mutex;
  std::vector<std::shared_ptr<void>> held;

  explicit Replica(std::function<void(Replica&, std::shared_ptr<http::Exchange>)> behaviour) {
    http::ServerOptions options;
    options.port = 0;
    server = std::make_unique<http::Server>(options, [this, behaviour](std::shared_ptr<http::Exchange> ex) {
      hits++;
      behaviour(*this, std::move(ex));
    });
    server->start();
  }
  ~Replica() {
    {
      std::lock_guard lock(mutex);
      held.clear();
    }
    server->shutdown(1s);
  }
  void hold(std::shared_ptr<void> what) {
    std::lock_guard lock(mutex);
    held.push_back(std::move(what));
  }
  Endpoint endpoint() const { return {"pool", "127.0.0.1", server->port(), "127.0.0.1:" + std::to_string(server->port())}; }
};

http::Response json(http::Status status, std::string body) {
  http::Response r{status, 11};
  r.set(http::Field::content_type, "application/json");
  r.body() = std::move(body);
  return r;
}

void answer_json(Replica&, std::shared_ptr<http::Exchange> ex) {
  nlohmann::json body = {{"echo", ex->request().body()}, {"request_id", std::string(ex->request()["x-request-id"])}};
  ex->respond(json(http::Status::ok, body.dump()));
}

// Streams `n` events 5 ms apart; when `die_after` >= 0, drops the exchange after that many
// (the connection closes mid-stream, as when a replica is killed).
std::function<void(Replica&, std::shared_ptr<http::Exchange>)> stream_events(int n, int die_after = -1) {
  return [n, die_after](Replica& replica, std::shared_ptr<http::Exchange> ex) {
    ex->on_disconnect([&replica] { replica.disconnects++; });
    auto writer = ex->start_sse(http::Response{http::Status::ok, 11});
    auto timer = std::make_shared<net::steady_timer>(ex->executor());
    auto step = std::make_shared<std::function<void(int)>>();
    *step = [=](int i) {
      if (i == die_after) {
        *step = nullptr;  // the exchange goes with the last reference: connection closed
        return;
      }
      if (i == n) {
        writer->write(http::sse_event("[DONE]"), [=](bool) { writer->end(); });
        *step = nullptr;
        return;
      }
      writer->write(http::sse_event(fmt::format("{{\"i\":{}}}", i)), [=](bool ok) {
        if (!ok) {
          *step = nullptr;
          return;
        }
        timer->expires_after(5ms);
        timer->async_wait([=](auto) {
          if (*step) (*step)(i + 1);
        });
      });
    };
    net::post(ex->executor(), [=] { (*step)(0); });
  };
}

// A replica written at the socket level, for answers no well-behaved server sends: reads one
// request head and writes `answer` verbatim, then closes.
class RawReplica {
 public:
  explicit RawReplica(std::string answer) : answer_(std::move(answer)) {
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] {
      net::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const std::size_t n = socket.read_some(net::buffer(buf), ec);
        if (ec) return;
        request.append(buf, n);
      }
      net::write(socket, net::buffer(answer_), ec);
      socket.shutdown(net::ip::tcp::socket::shutdown_both, ec);
    });
  }
  ~RawReplica() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);  // unblocks an accept that never came
    thread_.join();
  }
  Endpoint endpoint() const {
    const auto port = acceptor_.local_endpoint().port();
    return {"pool", "127.0.0.1", port, "127.0.0.1:" + std::to_string(port)};
  }

 private:
  std::string answer_;
  net::io_context io_;
  net::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

class GatewayProxyTest : public ::testing::Test {
 protected:
  void start(std::vector<Endpoint> endpoints) {
    selector_->endpoints = std::move(endpoints);
    GatewayServerOptions options;
    options.http.port = 0;
    options.access_log = false;
    options.forward.timeouts.first_byte = 2s;
    options.forward.timeouts.idle = 2s;
    gateway_ = std::make_unique<GatewayServer>(options, policy_, metrics_);
    gateway_->start();
  }
  http::Client client() { return http::Client("127.0.0.1", gateway_->port(), 10s); }
  void TearDown() override {
    if (gateway_) gateway_->shutdown(1s);
  }

  std::shared_ptr<FixedSelector> selector_ = std::make_shared<FixedSelector>();
  FixedPolicy policy_{selector_};
  MetricsRegistry metrics_;
  std::unique_ptr<GatewayServer> gateway_;
};

const std::string kCompletion = R"({"model":"m","prompt":"hello","max_tokens":4})";

TEST_F(GatewayProxyTest, RelaysJsonAndPropagatesTheRequestId) {
  Replica replica(answer_json);
  start({replica.endpoint()});
  auto c = client();
  auto response = c.post_json("/v1/completions", kCompletion, {{"x-request-id", "abc-123"}});
  ASSERT_EQ(response.result_int(), 200) << response.body();
  auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["echo"], kCompletion);
  EXPECT_EQ(body["request_id"], "abc-123");
  EXPECT_EQ(response["x-request-id"], "abc-123");
  // The connection to the replica is kept alive and reused.
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.post_json("/v1/completions", kCompletion).result_int(), 200);
  EXPECT_EQ(replica.server->connections(), 1);
}

TEST_F(GatewayProxyTest, AnAnswerOfManyTinyChunksArrivesWhole) {
  // 20,000 one-byte chunks, thousands of them in each read (the head's included): parsed from
  // the buffer in-line, they must come out whole and in order.
  std::string body;
  std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20000; ++i) {
    const char c = static_cast<char>('a' + i % 26);
    body += c;
    answer += "1\r\n";
    answer += c;
    answer += "\r\n";
  }
  answer += "0\r\n\r\n";
  RawReplica replica(answer);
  start({replica.endpoint()});
  auto response = client().post_json("/v1/completions", kCompletion);
  ASSERT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), body);
}

TEST_F(GatewayProxyTest, AReplicaGetsTheClientsHeadersLessCredentialsAndHopByHopOnes) {
  Replica replica([](Replica&, std::shared_ptr<http::Exchange> ex) {
    const auto& r = ex->request();
    nlohmann::json seen = {{"host", std::string(r[http::Field::host])},
                           {"forwarded_for", std::string(r["x-forwarded-for"])},
                           {"authorization", std::string(r[http::Field::authorization])},
                           {"mirror", std::string(r["x-tide-mirror"])},
                           {"custom", std::string(r["x-custom"])},
                           {"length", std::string(r[http::Field::content_length])},
                           {"body", r.body()}};
    auto answer = json(http::Status::ok, seen.dump());
    answer.set("x-request-id", "the-replica's-own");
    answer.set("x-replica", "yes");
    ex->respond(std::move(answer));
  });
  start({replica.endpoint()});
  auto response = client().post_json("/v1/completions", kCompletion,
                                     {{"authorization", "Bearer secret"}, {"x-forwarded-for", "10.9.9.9"},
                                      {"x-tide-mirror", "1"}, {"x-custom", "kept"}, {"connection", "keep-alive"}});
  ASSERT_EQ(response.result_int(), 200) << response.body();
  auto seen = nlohmann::json::parse(response.body());
  EXPECT_EQ(seen["host"], replica.endpoint().address);
  EXPECT_EQ(seen["forwarded_for"], "127.0.0.1");  // the gateway's peer, not what the client claimed
  EXPECT_EQ(seen["authorization"], "");
  EXPECT_EQ(seen["mirror"], "");
  EXPECT_EQ(seen["custom"], "kept");
  EXPECT_EQ(seen["length"], std::to_string(kCompletion.size()));
  EXPECT_EQ(seen["body"], kCompletion);
  // And the client gets the replica's headers, with the gateway's request id in place of its own.
  EXPECT_EQ(response["x-replica"], "yes");
  EXPECT_EQ(response[http::Field::content_type], "application/json");
  EXPECT_TRUE(std::string(response["x-request-id"]).starts_with("gw-"));
  EXPECT_EQ(std::distance(response.equal_range("x-request-id").first, response.equal_range("x-request-id").second), 1);
}

TEST_F(GatewayProxyTest, RelaysAnEventStreamEventByEvent) {
  Replica replica(stream_events(6));
  start({replica.endpoint()});
  std::vector<std::string> events;
  auto response = client().post_sse("/v1/completions", R"({"prompt":"x","stream":true})", [&](const std::string& data) {
    events.push_back(data);
    return true;
  });
  EXPECT_EQ(response.result_int(), 200);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0], R"({"i":0})");
  EXPECT_EQ(events[5], R"({"i":5})");
  EXPECT_EQ(events[6], "[DONE]");
}

TEST_F(GatewayProxyTest, AnOverloadedOrBrokenReplicaIsRetriedElsewhere) {
  Replica busy([](Replica&, std::shared_ptr<http::Exchange> ex) {
    auto r = json(http::Status::too_many_requests, R"({"error":{"message":"busy"}})");
    r.set(http::Field::retry_after, "1");
    ex->respond(std::move(r));
  });
  Replica broken([](Replica&, std::shared_ptr<http::Exchange> ex) { ex->respond(json(http::Status::internal_server_error, "{}")); });
  Replica good(answer_json);
  start({busy.endpoint(), broken.endpoint(), good.endpoint()});
  for (int i = 0; i < 6; ++i) ASSERT_EQ(client().post_json("/v1/completions", kCompletion).result_int(), 200) << i;
  EXPECT_EQ(good.hits, 6);
  EXPECT_GT(selector_->failures, 0);  // the 500s count against their replica; the 429s do not
}

TEST_F(GatewayProxyTest, AReplicaThatIsDownIsSkipped) {
  Replica good(answer_json);
  uint16_t dead_port;
  {
    Replica gone(answer_json);
    dead_port = gone.server->port();
  }
  start({{"pool", "127.0.0.1", dead_port, "127.0.0.1:" + std::to_string(dead_port)}, good.endpoint()});
  for (int i = 0; i < 4; ++i) ASSERT_EQ(client().post_json("/v1/completions", kCompletion).result_int(), 200);
}

TEST_F(GatewayProxyTest, EveryReplicaFailingIsAClearErrorNotAHang) {
  Replica broken([](Replica&, std::shared_ptr<http::Exchange> ex) { ex->respond(json(http::Status::internal_server_error, "{}")); });
  start({broken.endpoint()});
  auto response = client().post_json("/v1/completions", kCompletion);
  EXPECT_EQ(response.result_int(), 502);
  EXPECT_TRUE(nlohmann::json::parse(response.body()).contains("error"));
}

TEST_F(GatewayProxyTest, AStreamWhoseReplicaDiesEndsWithAnErrorEvent) {
  Replica dying(stream_events(10, 3));
  start({dying.endpoint()});
  std::vector<std::string> events;
  auto response = client().post_sse("/v1/completions", R"({"prompt":"x","stream":true})", [&](const std::string& d) {
    events.push_back(d);
    return true;
  });
  EXPECT_EQ(response.result_int(), 200);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2], R"({"i":2})");
  EXPECT_TRUE(nlohmann::json::parse(events[3]).contains("error"));
}

TEST_F(GatewayProxyTest, AReplicaThatNeverAnswersTimesOut) {
  Replica silent([](Replica& r, std::shared_ptr<http::Exchange> ex) { r.hold(std::move(ex)); });
  start({silent.endpoint()});
  auto response = client().post_json("/v1/completions", kCompletion);
  EXPECT_EQ(response.result_int(), 502);  // the only replica timed out: none is left to try
  EXPECT_TRUE(nlohmann::json::parse(response.body()).contains("error"));
  EXPECT_EQ(selector_->timeouts, 1);
}

TEST_F(GatewayProxyTest, AStreamThatStallsEndsWithAnErrorEventAfterTheIdleTimeout) {
  Replica stalling([](Replica& r, std::shared_ptr<http::Exchange> ex) {
    auto writer = ex->start_sse(http::Response{http::Status::ok, 11});
    writer->write(http::sse_event(R"({"i":0})"), [](bool) {});
    r.hold(std::move(writer));  // and then nothing more
  });
  start({stalling.endpoint()});
  std::vector<std::string> events;
  auto response = client().post_sse("/v1/completions", R"({"prompt":"x","stream":true})", [&](const std::string& d) {
    events.push_back(d);
    return true;
  });
  EXPECT_EQ(response.result_int(), 200);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], R"({"i":0})");
  EXPECT_TRUE(nlohmann::json::parse(events[1]).contains("error"));
  for (int i = 0; i < 200 && gateway_->in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(gateway_->in_flight(), 0);
}

TEST_F(GatewayProxyTest, AClientThatLeavesMidStreamDisconnectsTheReplica) {
  Replica replica(stream_events(1000));
  start({replica.endpoint()});
  int seen = 0;
  client().post_sse("/v1/completions", R"({"prompt":"x","stream":true})", [&](const std::string&) { return ++seen < 3; });
  for (int i = 0; i < 200 && replica.disconnects == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(replica.disconnects, 1);
  for (int i = 0; i < 200 && gateway_->in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(gateway_->in_flight(), 0);
}

TEST_F(GatewayProxyTest, MalformedRequestsNeverReachAReplica) {
  Replica replica(answer_json);
  start({replica.endpoint()});
  auto c = client();
  const std::vector<std::string> bodies = {"{", "[1,2]", R"({"stream":"yes"})", R"({"messages":5})",
                                          std::string(200, '['), "{\"prompt\":\"\xff\"}"};
  for (const auto& body : bodies) {
    auto response = c.post_json("/v1/chat/completions", body);
    EXPECT_EQ(response.result_int(), 400) << body;
    EXPECT_TRUE(nlohmann::json::parse(response.body()).contains("error")) << body;
  }
  EXPECT_EQ(c.get("/v1/completions").result_int(), 405);
  EXPECT_EQ(c.get("/nope").result_int(), 404);
  EXPECT_EQ(replica.hits, 0);
}

TEST_F(GatewayProxyTest, NoReplicaAtAllIs503WithRetryAfter) {
  start({});
  auto response = client().post_json("/v1/completions", kCompletion);
  EXPECT_EQ(response.result_int(), 503);
  EXPECT_EQ(response[http::Field::retry_after], "1");
}

TEST_F(GatewayProxyTest, DrainingTurnsReadyOffAndRefusesNewWork) {
  Replica replica(answer_json);
  start({replica.endpoint()});
  auto c = client();
  EXPECT_EQ(c.get("/ready").result_int(), 200);
  gateway_->begin_drain();
  EXPECT_EQ(c.get("/ready").result_int(), 503);
  EXPECT_EQ(c.post_json("/v1/completions", kCompletion).result_int(), 503);
  EXPECT_EQ(c.get("/health").result_int(), 200);
}

}  // namespace
}  // namespace tide::gateway
