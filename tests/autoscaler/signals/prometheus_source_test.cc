// PrometheusSource: the instant-query answer parser on the documented shapes (vector, scalar,
// error, and malformed answers), the source against a stand-in query API, and against a real
// Prometheus scraping a stand-in /metrics page (skipped when the prometheus binary is absent).
#include "autoscaler/signals/prometheus_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "autoscaler/local/child_process.h"
#include "autoscaler/signals/http_get.h"
#include "common/error.h"
#include "common/http/client.h"
#include "common/http/server.h"
#include "common/http/url_encode.h"
#include "test_support.h"

namespace tide::autoscaler::signals {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PrometheusResponse, ReadsAVectorOfOneSeriesAScalarAndAnEmptyVector) {
  EXPECT_EQ(
      parse_prometheus_response(
          R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.123,"42.5"]}]}})"),
      42.5);
  EXPECT_EQ(
      parse_prometheus_response(R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"7"]}})"), 7);
  EXPECT_FALSE(parse_prometheus_response(R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  const auto nan = parse_prometheus_response(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]},"warnings":["w"]})");
  ASSERT_TRUE(nan);
  EXPECT_TRUE(std::isnan(*nan));
  EXPECT_TRUE(std::isinf(
      *parse_prometheus_response(R"({"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}})")));
}

TEST(PrometheusResponse, ErrorsAndMalformedAnswersAreClear) {
  auto err = [](const std::string& body) { return error_of([&] { parse_prometheus_response(body); }); };
  EXPECT_NE(err(R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected identifier"})")
                .find("Prometheus query failed: bad_data: 1:5: parse error"),
            std::string::npos);
  EXPECT_NE(err("<html>").find("not JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(err("{}").find("no \"status\""), std::string::npos);
  EXPECT_NE(err(R"({"status":"pending"})").find("neither success nor error"), std::string::npos);
  EXPECT_NE(err(R"({"status":"success"})").find("no \"data\""), std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"matrix","result":[]}})").find("not a range"),
            std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"vector"}})").find("no data.result"), std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"]},)"
                R"({"metric":{"pod":"b"},"value":[1,"2"]}]}})")
                .find("2 series; the query must aggregate"),
            std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}})")
                .find("must be a string"),
            std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2x"]}]}})")
                .find("\"2x\" is not a number"),
            std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})").find("no \"value\""),
            std::string::npos);
  EXPECT_NE(err(R"({"status":"success","data":{"resultType":"scalar","result":["1","2"]}})").find("[<time>"),
            std::string::npos);
}

TEST(PrometheusQueries, TheSloQueryUsesTheBucketBoundAsTideWritesIt) {
  EXPECT_EQ(le_text(1.0), "1");
  EXPECT_EQ(le_text(0.25), "0.25");
  EXPECT_NE(default_slo_query(2.5).find(R"(le="2.5")"), std::string::npos);
  EXPECT_EQ(http::url_encode(R"(sum(x{job="tide"}))"), "sum%28x%7Bjob%3D%22tide%22%7D%29");
}

// A stand-in query API: answers each query from `answers` by its PromQL, records the targets.
class FakePrometheus {
 public:
  explicit FakePrometheus(std::function<std::pair<int, std::string>(const std::string& query)> answer)
      : answer_(std::move(answer)) {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = std::make_unique<http::Server>(options, [this](std::shared_ptr<http::Exchange> ex) {
      const std::string target(ex->request().target());
      std::string query;
      const std::size_t q = target.find("query=");
      if (q != std::string::npos) query = decode(target.substr(q + 6, target.find('&', q) - q - 6));
      {
        std::lock_guard lock(mutex_);
        targets_.push_back(target);
      }
      auto [status, body] = answer_(query);
      http::Response r{static_cast<http::Status>(status), 11};
      r.set(http::Field::content_type, "application/json");
      r.body() = body;
      ex->respond(std::move(r));
    });
    server_->start();
  }
  ~FakePrometheus() { server_->shutdown(std::chrono::milliseconds(0)); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mutex_);
    return targets_;
  }

 private:
  static std::string decode(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }
  std::function<std::pair<int, std::string>(const std::string&)> answer_;
  mutable std::mutex mutex_;
  std::vector<std::string> targets_;
  std::unique_ptr<http::Server> server_;
};

std::string vector_of(double v) {
  return R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,")" +
         fmt::format("{}", v) + R"("]}]}})";
}

TEST(PrometheusSource, OneInstantQueryPerFieldAllAtTheSameTime) {
  PrometheusConfig config;
  const PrometheusQueries& q = config.queries;
  FakePrometheus prometheus([&](const std::string& query) -> std::pair<int, std::string> {
    if (query == q.ready) return {200, vector_of(3)};
    if (query == q.in_flight) return {200, vector_of(12)};
    if (query == q.waiting) return {200, vector_of(5)};
    if (query == q.kv_usage) return {200, vector_of(0.5)};
    if (query == q.tokens_per_s) return {200, vector_of(900)};
    if (query == q.arrival_rate) return {200, vector_of(4.5)};
    if (query == q.completion_rate) return {200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"};
    if (query == default_slo_query(1.0)) return {200, vector_of(0.95)};
    return {400, R"({"status":"error","errorType":"bad_data","error":"unexpected query"})"};
  });
  config.url = prometheus.url();
  PrometheusSource source(config);
  const PoolSample s = source.sample(42);
  EXPECT_EQ(s.time_s, 42);
  EXPECT_EQ(s.ready, 3);
  EXPECT_EQ(s.in_flight, 12);
  EXPECT_EQ(s.waiting, 5);
  EXPECT_EQ(s.kv_usage, 0.5);
  EXPECT_EQ(s.tokens_per_s, 900);
  EXPECT_EQ(s.arrival_rate, 4.5);
  EXPECT_EQ(s.completion_rate, 0);  // no series: nothing finished
  EXPECT_EQ(s.slo_attainment, 0.95);

  const auto targets = prometheus.targets();
  ASSERT_EQ(targets.size(), 8u);
  const std::string time = targets[0].substr(targets[0].find("&time="));
  for (const auto& t : targets) {
    EXPECT_TRUE(t.starts_with("/api/v1/query?query=")) << t;
    EXPECT_EQ(t.substr(t.find("&time=")), time) << "every query at one evaluation time";
  }
}

TEST(PrometheusSource, AnErrorAnswerNamesTheFieldAndPrometheusMessage) {
  FakePrometheus prometheus([](const std::string&) -> std::pair<int, std::string> {
    return {400,
            R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:4: parse error"})"};
  });
  PrometheusConfig config;
  config.url = prometheus.url();
  PrometheusSource source(config);
  const std::string message = error_of([&] { source.sample(0); });
  EXPECT_NE(message.find("signals.prometheus.queries.ready"), std::string::npos) << message;
  EXPECT_NE(message.find("bad_data: invalid parameter"), std::string::npos) << message;
}

TEST(PrometheusSource, UnreachablePrometheusIsAnError) {
  PrometheusConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(testing::free_port());
  config.timeout = std::chrono::seconds(5);
  PrometheusSource source(config);
  EXPECT_NE(error_of([&] { source.sample(0); }).find("signals.prometheus: " + config.url), std::string::npos);
}

TEST(PrometheusSource, ARealPrometheusScrapingAStandInReplica) {
  const std::string binary = testing::find_on_path("prometheus");
  if (binary.empty())
    GTEST_SKIP() << "prometheus not found on PATH: install the Debian prometheus package (scripts/install-deps.sh)";

  // The replica: a fixed page, so the queries' answers are known.
  http::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  http::Server replica(options, [](std::shared_ptr<http::Exchange> ex) {
    http::Response r{http::Status::ok, 11};
    r.set(http::Field::content_type, "text/plain; version=0.0.4");
    r.body() =
        "# TYPE tide_num_requests_running gauge\ntide_num_requests_running 7\n"
        "# TYPE tide_num_requests_waiting gauge\ntide_num_requests_waiting 2\n"
        "# TYPE tide_kv_cache_usage_ratio gauge\ntide_kv_cache_usage_ratio 0.25\n";
    ex->respond(std::move(r));
  });
  replica.start();

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tide-prometheus-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "prometheus.yml") << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                                           "scrape_configs:\n- job_name: tide\n  static_configs:\n"
                                           "  - targets: ['127.0.0.1:"
                                        << replica.port() << "']\n";
  const int port = testing::free_port();
  ChildProcess prometheus({.program = binary,
                           .args = {"--config.file=" + (dir / "prometheus.yml").string(),
                                    "--storage.tsdb.path=" + (dir / "data").string(),
                                    "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                           .env = {},
                           .log_file = dir / "prometheus.log"});
  // Up once its readiness endpoint answers (bounded: 60 s).
  bool ready = false;
  for (int attempt = 0; attempt < 120 && !ready && prometheus.running(); ++attempt) {
    try {
      http::Client client("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(1));
      ready = client.get("/-/ready").result_int() == 200;
    } catch (const Error&) {
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(ready) << "prometheus did not start:\n" << prometheus.tail(40);

  PrometheusConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(port);
  config.timeout = std::chrono::seconds(10);
  PrometheusSource source(config);
  // Wait (bounded) for the first scrape to land.
  PoolSample s;
  for (int attempt = 0; attempt < 60 && s.ready == 0; ++attempt) {
    s = source.sample(attempt);
    if (s.ready == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::filesystem::remove_all(dir);
  ASSERT_EQ(s.ready, 1) << prometheus.tail(40);
  EXPECT_EQ(s.in_flight, 7);
  EXPECT_EQ(s.waiting, 2);  // no gateway job: its queue reads as 0 (`or vector(0)`)
  EXPECT_EQ(s.kv_usage, 0.25);
  EXPECT_EQ(s.arrival_rate, 0);
  EXPECT_TRUE(std::isnan(s.slo_attainment));
  replica.shutdown(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace tide::autoscaler::signals
