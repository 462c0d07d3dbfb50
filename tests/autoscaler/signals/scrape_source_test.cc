// ScrapeSource over HTTP: against stand-in replicas serving /metrics pages, and against a real
// `tide serve` process answering real requests (skipped when the binary was not built).
#include "autoscaler/signals/scrape_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "autoscaler/local/child_process.h"
#include "common/error.h"
#include "common/http/client.h"
#include "common/http/server.h"
#include "common/metrics_page.h"
#include "test_support.h"

namespace tide::autoscaler::signals {
namespace {

// A replica stand-in: answers GET /metrics with whatever page it holds now.
class PageServer {
 public:
  PageServer() {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<http::Server>(options, [this](std::shared_ptr<http::Exchange> ex) {
      http::Response r{http::Status::ok, 11};
      if (ex->request().target() != "/metrics") r.result(http::Status::not_found);
      r.set(http::Field::content_type, "text/plain; version=0.0.4");
      {
        std::lock_guard lock(mutex_);
        r.body() = page_;
      }
      ex->respond(std::move(r));
    });
    server_->start();
  }
  ~PageServer() { server_->shutdown(std::chrono::milliseconds(0)); }
  void set(std::string page) {
    std::lock_guard lock(mutex_);
    page_ = std::move(page);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  std::mutex mutex_;
  std::string page_;
  std::unique_ptr<http::Server> server_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ScrapeSource, ScrapesEveryReplicaOfTheCurrentListAndSkipsUnreachableOnes) {
  PageServer a, b, gateway;
  a.set("tide_num_requests_running 2\ntide_requests_finished_total{finish_reason=\"stop\"} 10\n");
  b.set("tide_num_requests_running 3\ntide_requests_finished_total{finish_reason=\"stop\"} 20\n");
  gateway.set("tide_gateway_queue_size{pool=\"default\"} 4\n");
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::free_port());
  std::vector<std::string> replicas = {a.url(), b.url(), dead};
  ScrapeOptions options;
  options.replicas = [&] { return replicas; };
  options.gateway_url = gateway.url();
  options.gateway_pool = "default";
  options.timeout = std::chrono::seconds(5);
  ScrapeSource source(options);

  PoolSample s = source.sample(0);
  EXPECT_EQ(s.ready, 2);
  EXPECT_EQ(s.in_flight, 5);
  EXPECT_EQ(s.waiting, 4);

  a.set("tide_num_requests_running 2\ntide_requests_finished_total{finish_reason=\"stop\"} 30\n");
  b.set("tide_num_requests_running 3\ntide_requests_finished_total{finish_reason=\"stop\"} 40\n");
  s = source.sample(10);
  EXPECT_DOUBLE_EQ(s.completion_rate, 4.0);

  replicas = {b.url()};  // a scaled away
  s = source.sample(20);
  EXPECT_EQ(s.ready, 1);
  EXPECT_EQ(s.in_flight, 3);
}

TEST(ScrapeSource, NothingReachableIsAnError) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::free_port());
  ScrapeOptions options;
  options.replicas = [&] { return std::vector<std::string>{dead}; };
  options.timeout = std::chrono::seconds(5);
  ScrapeSource source(options);
  EXPECT_NE(error_of([&] { source.sample(0); }).find("scrape: none of 1 replica(s) answered"), std::string::npos);

  ScrapeOptions empty;
  empty.replicas = [] { return std::vector<std::string>{}; };
  ScrapeSource none(empty);
  EXPECT_NE(error_of([&] { none.sample(0); }).find("no replicas and no gateway"), std::string::npos);
}

TEST(ScrapeSource, AGatewayAloneStillGivesArrivalsWhenThePoolIsAtZero) {
  PageServer gateway;
  gateway.set(
      "tide_gateway_routed_total{route=\"/v1/completions\",pool=\"p\",reason=\"all_down\"} 3\n"
      "tide_gateway_queue_size{pool=\"p\"} 3\n");
  ScrapeOptions options;
  options.replicas = [] { return std::vector<std::string>{}; };
  options.gateway_url = gateway.url();
  options.gateway_pool = "p";
  ScrapeSource source(options);
  source.sample(0);
  gateway.set(
      "tide_gateway_routed_total{route=\"/v1/completions\",pool=\"p\",reason=\"all_down\"} 8\n"
      "tide_gateway_queue_size{pool=\"p\"} 8\n");
  const PoolSample s = source.sample(5);
  EXPECT_EQ(s.ready, 0);
  EXPECT_EQ(s.waiting, 8);
  EXPECT_DOUBLE_EQ(s.arrival_rate, 1.0);
}

TEST(ScrapeSource, ARealTideServe) {
  // $TIDE_BIN, as for the node tests, else this build's binary.
  const char* env = std::getenv("TIDE_BIN");
  const std::filesystem::path binary = env && *env ? env : std::filesystem::path(TIDE_BINARY_DIR) / "src/cli/tide";
  if (!std::filesystem::exists(binary))
    GTEST_SKIP() << binary << " not built: build the `tide` target (./scripts/build.sh release tide) to run this";
  const std::string model = std::string(TIDE_FIXTURES_DIR) + "/models/deepseek-v3-tiny";
  const auto log = std::filesystem::temp_directory_path() / ("tide-scrape-serve-" + std::to_string(::getpid()) + ".log");
  ChildProcess serve({.program = binary.string(),
                      .args = {"serve", "--model", model, "--host", "127.0.0.1", "--port", "0"},
                      .env = {},
                      .log_file = log});
  const auto url = serve.wait_for_url(std::chrono::seconds(120));
  std::filesystem::remove(log);
  ASSERT_TRUE(url) << "tide serve did not start:\n" << serve.tail(40);

  ScrapeOptions options;
  options.replicas = [&] { return std::vector<std::string>{*url}; };
  options.slo_ttft_s = 160;  // every first token of a tiny model on a CPU is within it
  options.timeout = std::chrono::seconds(30);
  ScrapeSource source(options);
  const PoolSample idle = source.sample(0);
  EXPECT_EQ(idle.ready, 1);
  EXPECT_EQ(idle.in_flight, 0);
  EXPECT_EQ(idle.waiting, 0);

  const auto colon = url->rfind(':');
  http::Client client("127.0.0.1", static_cast<uint16_t>(std::stoi(url->substr(colon + 1))), std::chrono::seconds(60));
  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i) {
    const http::Response r = client.post_json(
        "/v1/chat/completions",
        R"({"model":"deepseek-v3-tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"temperature":0})");
    ASSERT_EQ(r.result(), http::Status::ok) << r.body();
  }
  // The answer can reach the client a moment before the engine counts the request finished:
  // wait (bounded) until the page shows all of them finished and none running, so the next sample sees every one.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const MetricsPage page(client.get("/metrics").body());
    if (page.sum("tide_requests_finished_total").value >= kRequests &&
        page.sum("tide_num_requests_running").value == 0 && page.sum("tide_num_requests_waiting").value == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const PoolSample s = source.sample(10);
  EXPECT_EQ(s.ready, 1);
  EXPECT_DOUBLE_EQ(s.completion_rate, kRequests / 10.0);
  EXPECT_GT(s.tokens_per_s, 0);
  EXPECT_DOUBLE_EQ(s.arrival_rate, kRequests / 10.0);  // all finished, none left running
  EXPECT_DOUBLE_EQ(s.slo_attainment, 1.0);
  EXPECT_GE(s.kv_usage, 0);
  EXPECT_LE(s.kv_usage, 1);
}

}  // namespace
}  // namespace tide::autoscaler::signals
