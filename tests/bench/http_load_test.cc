// `tide bench http`'s runner against a loopback server: every scheduled request is sent and
// timed from its due time, errors are counted by kind, a stall is charged to every request due
// during it (no coordinated omission), and the report's percentiles.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bench/http_load.h"
#include "bench/http_report.h"
#include "common/http/server.h"

namespace tide::bench {
namespace {
using namespace std::chrono_literals;

struct TestServer {
  explicit TestServer(http::Handler handler) : server(options(), std::move(handler)) { server.start(); }
  static http::ServerOptions options() {
    http::ServerOptions o;
    o.port = 0;
    o.threads = 1;
    return o;
  }
  http::Server server;
};

http::Response answer(http::Status status) {
  http::Response response{status, 11};
  response.set(http::Field::content_type, "application/json");
  response.body() = R"({"ok":true})";
  return response;
}

HttpLoadConfig config_for(uint16_t port) {
  HttpLoadConfig c;
  c.port = port;
  c.body = R"({"model":"m","prompt":"p"})";
  c.rate = 1000;
  c.duration_s = 0.2;
  c.warmup_s = 0.05;
  c.connections = 4;
  c.timeout_s = 2;
  return c;
}

TEST(HttpLoad, SendsEveryScheduledRequestAndTimesIt) {
  std::atomic<int> seen{0};
  TestServer s([&](std::shared_ptr<http::Exchange> e) {
    EXPECT_EQ(e->request().method(), http::Verb::post);
    EXPECT_EQ(e->request().target(), "/v1/completions");
    EXPECT_EQ(e->request().body(), R"({"model":"m","prompt":"p"})");
    seen++;
    e->respond(answer(http::Status::ok));
  });
  Counters counters;
  const auto r = run_http_load(config_for(s.server.port()), counters);
  EXPECT_EQ(r.scheduled, 200);
  EXPECT_EQ(r.sent, 200);
  EXPECT_EQ(r.ok, 200);
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(seen.load(), 250);  // the warm-up too
  ASSERT_EQ(r.latency_us.size(), 200u);
  for (std::size_t i = 0; i < r.latency_us.size(); ++i) EXPECT_GE(r.latency_us[i], r.service_us[i]);
  // From the first measured due time (request 50) to the last answer, which cannot come before
  // the last request (249) was due, 0.199 s later. The upper bound is loose for a loaded machine
  // yet below the 2 s request timeout.
  EXPECT_GT(r.duration_s, 0.19);
  EXPECT_LT(r.duration_s, 1.5);
}

TEST(HttpLoad, CountsErrorStatusesByKind) {
  TestServer s([](std::shared_ptr<http::Exchange> e) { e->respond(answer(http::Status::service_unavailable)); });
  Counters counters;
  auto c = config_for(s.server.port());
  c.max_requests = 50;
  const auto r = run_http_load(c, counters);
  EXPECT_EQ(r.scheduled, 50);
  EXPECT_EQ(r.ok, 0);
  EXPECT_EQ(r.failed, 50);
  EXPECT_EQ(r.errors.at("http_503"), 50);
}

// One connection and a server that takes at least 20 ms per request at 1000 req/s: requests
// pile up behind it, and their latency counts from when they were due, so it grows far beyond
// the service time.
TEST(HttpLoad, ChargesWaitingToTheRequestsThatWaited) {
  TestServer s([](std::shared_ptr<http::Exchange> e) {
    std::this_thread::sleep_for(20ms);
    e->respond(answer(http::Status::ok));
  });
  Counters counters;
  auto c = config_for(s.server.port());
  c.connections = 1;
  c.warmup_s = 0;
  c.max_requests = 10;
  const auto r = run_http_load(c, counters);
  ASSERT_EQ(r.ok, 10);
  EXPECT_GT(r.max_waiting, 5);
  EXPECT_GT(r.latency_us.back(), 150'000);  // the 10th was due at 9 ms, answered after >= 200 ms
  // Service time counts from when a request went out, not from when it was due. The 10th went
  // out on the one connection only after the nine before it were answered in turn, each at least
  // 20 ms after it went out: at >= 180 ms, >= 171 ms after it was due. That wait is latency, and
  // it holds however slowly the machine runs.
  EXPECT_GT(r.latency_us.back() - r.service_us.back(), 150'000);
}

TEST(HttpLoad, RefusesAnUnreachableServer) {
  Counters counters;
  auto c = config_for(1);  // nothing listens on port 1
  EXPECT_THROW(run_http_load(c, counters), std::exception);
}

TEST(HttpReport, PercentilesIncludeTheTail) {
  std::vector<double> values;
  for (int i = 1; i <= 1000; ++i) values.push_back(i);
  const auto s = summarize(values);
  EXPECT_EQ(s.count, 1000u);
  EXPECT_NEAR(s.p50, 500.5, 1e-9);
  EXPECT_NEAR(s.p99, 990.01, 1e-9);
  EXPECT_NEAR(s.p999, 999.001, 1e-9);
  EXPECT_EQ(s.max, 1000);
  const auto empty = summarize({});
  EXPECT_EQ(empty.count, 0u);
  HttpLoadResult result;
  const auto json = http_report_json(make_http_report(result, 100, {}));
  EXPECT_TRUE(json["latency_us"]["p99.9"].is_null());
}

}  // namespace
}  // namespace tide::bench
