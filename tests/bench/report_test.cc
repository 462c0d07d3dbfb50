// Percentiles, summaries, goodput and the JSON report's shape, on hand-made results.
#include <gtest/gtest.h>

#include "bench/report.h"

namespace tide::bench {
namespace {

RequestResult streamed(double ttft_s, double e2e_s, int output_tokens, std::vector<double> itl_s = {}) {
  RequestResult r;
  r.sent = r.ok = r.streamed = true;
  r.ttft_s = ttft_s;
  r.e2e_s = e2e_s;
  r.output_tokens = output_tokens;
  r.itl_s = std::move(itl_s);
  r.usage_reported = true;
  r.prompt_tokens = 10;
  return r;
}

RequestResult failed(std::string kind) {
  RequestResult r;
  r.sent = true;
  r.error = std::move(kind);
  r.error_detail = "details of " + r.error;
  return r;
}

TEST(Percentile, InterpolatesBetweenRanksLikeNumpy) {
  const std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 10.0);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 5.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 9.1);
  EXPECT_DOUBLE_EQ(percentile(v, 99), 9.91);
  EXPECT_DOUBLE_EQ(percentile({42.0}, 99), 42.0);
  EXPECT_DOUBLE_EQ(percentile({0.0, 100.0}, 25), 25.0);
}

TEST(Summarize, SortsAndAverages) {
  const Summary s = summarize({10, 0, 30, 20, 40});
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.mean, 20.0);
  EXPECT_DOUBLE_EQ(s.p50, 20.0);
  EXPECT_DOUBLE_EQ(s.p90, 36.0);
  EXPECT_DOUBLE_EQ(s.p99, 39.6);
  EXPECT_EQ(summarize({}).count, 0u);
}

TEST(RequestResult, TpotIsDecodeTimePerTokenAfterTheFirst) {
  EXPECT_DOUBLE_EQ(*streamed(0.1, 1.1, 11).tpot_s(), 0.1);
  EXPECT_FALSE(streamed(0.1, 0.1, 1).tpot_s()) << "one token has no decode time";
  RequestResult whole = streamed(1.0, 1.0, 10);
  whole.streamed = false;
  EXPECT_FALSE(whole.tpot_s()) << "a whole response shows no per-token timing";
}

TEST(Goodput, CountsSuccessesWithinEverySlo) {
  // Binary-exact times, so "at the limit" is exactly at it.
  const Slo slo{.ttft_ms = 125, .tpot_ms = 62.5};
  EXPECT_TRUE(meets_slo(streamed(0.125, 0.125 + 0.0625 * 8, 9), slo)) << "exactly at the limits meets them";
  EXPECT_FALSE(meets_slo(streamed(0.13, 0.3, 10), slo));
  EXPECT_FALSE(meets_slo(streamed(0.1, 0.1 + 0.07 * 9, 10), slo));
  EXPECT_TRUE(meets_slo(streamed(0.1, 0.1, 1), slo)) << "no TPOT to miss";
  EXPECT_FALSE(meets_slo(failed("timeout"), slo));
  EXPECT_TRUE(meets_slo(streamed(5.0, 9.0, 3), Slo{})) << "no SLO: every success is good";

  RunResult run;
  run.duration_s = 2.0;
  run.requests = {streamed(0.1, 0.3, 5), streamed(0.3, 0.5, 5), streamed(0.1, 2.0, 5), failed("http_503"), {}};
  std::vector<RequestSpec> workload(5);
  const Report report = make_report(run, workload, slo, nlohmann::json::object());
  EXPECT_EQ(report.good, 1);
  EXPECT_DOUBLE_EQ(*report.goodput_per_s, 0.5);
  EXPECT_FALSE(make_report(run, workload, Slo{}, nlohmann::json::object()).goodput_per_s);
}

TEST(Report, AggregatesTokensThroughputAndErrors) {
  RunResult run;
  run.duration_s = 4.0;
  run.requests = {streamed(0.1, 1.0, 10, {0.1, 0.1}), streamed(0.3, 2.0, 30, {0.2}), failed("http_503"),
                  failed("http_503"), failed("timeout"), {}};
  RequestResult no_usage = streamed(0.2, 1.0, 4, {0.3});
  no_usage.usage_reported = false;
  no_usage.prompt_tokens.reset();
  run.requests.push_back(no_usage);
  std::vector<RequestSpec> workload(run.requests.size());
  workload[6].prompt_len = 25;

  const Report r = make_report(run, workload, Slo{}, {{"seed", 1}});
  EXPECT_EQ(r.num_requests, 7);
  EXPECT_EQ(r.sent, 6);
  EXPECT_EQ(r.completed, 3);
  EXPECT_EQ(r.failed, 3);
  EXPECT_EQ(r.prompt_tokens, 10 + 10 + 25) << "planned length stands in for missing usage";
  EXPECT_EQ(r.output_tokens, 44);
  EXPECT_EQ(r.usage_missing, 1);
  EXPECT_DOUBLE_EQ(r.requests_per_s, 0.75);
  EXPECT_DOUBLE_EQ(r.output_tokens_per_s, 11.0);
  EXPECT_DOUBLE_EQ(r.total_tokens_per_s, (45.0 + 44.0) / 4.0);
  EXPECT_EQ(r.errors.at("http_503"), 2);
  EXPECT_EQ(r.errors.at("timeout"), 1);
  EXPECT_EQ(r.error_examples.at("timeout"), "details of timeout");
  EXPECT_EQ(r.itl_ms.count, 4u);
  EXPECT_DOUBLE_EQ(r.itl_ms.p50, 150.0);
  EXPECT_EQ(r.ttft_ms.count, 3u);
  EXPECT_DOUBLE_EQ(r.ttft_ms.p50, 200.0);
  EXPECT_EQ(r.e2e_ms.count, 3u);
  EXPECT_DOUBLE_EQ(r.e2e_ms.mean, 4000.0 / 3);
  EXPECT_EQ(r.tpot_ms.count, 3u);

  const std::string table = report_table(r);
  EXPECT_NE(table.find("3 completed, 3 failed, 1 not sent (of 7)"), std::string::npos) << table;
  EXPECT_NE(table.find("TTFT"), std::string::npos);
  EXPECT_NE(table.find("http_503 x2"), std::string::npos) << table;
}

TEST(Report, JsonShape) {
  RunResult run;
  run.duration_s = 1.0;
  run.requests = {streamed(0.1, 1.0, 10, {0.1}), failed("connection")};
  const auto json = report_json(make_report(run, std::vector<RequestSpec>(2), Slo{.ttft_ms = 500, .tpot_ms = std::nullopt}, {{"seed", 3}}));
  EXPECT_EQ(json["benchmark"], "serve");
  EXPECT_EQ(json["config"]["seed"], 3);
  EXPECT_EQ(json["requests"]["total"], 2);
  EXPECT_EQ(json["requests"]["completed"], 1);
  EXPECT_EQ(json["requests"]["failed"], 1);
  EXPECT_EQ(json["requests"]["not_sent"], 0);
  EXPECT_EQ(json["errors"]["total"], 1);
  EXPECT_EQ(json["errors"]["by_kind"]["connection"]["count"], 1);
  EXPECT_EQ(json["slo"]["ttft_ms"], 500.0);
  EXPECT_TRUE(json["slo"]["tpot_ms"].is_null());
  EXPECT_EQ(json["throughput"]["goodput_requests_per_s"], 1.0);
  for (const char* metric : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    ASSERT_TRUE(json.contains(metric)) << metric;
    for (const char* stat : {"count", "mean", "p50", "p90", "p99"}) EXPECT_TRUE(json[metric].contains(stat)) << metric << stat;
  }
  EXPECT_DOUBLE_EQ(json["ttft_ms"]["p99"].get<double>(), 100.0);
  for (const char* key : {"requests_per_s", "output_tokens_per_s", "total_tokens_per_s"})
    EXPECT_TRUE(json["throughput"][key].is_number()) << key;

  // Metrics with no samples are null, not a misleading 0.
  RunResult none;
  none.requests = {failed("connection")};
  const auto empty = report_json(make_report(none, std::vector<RequestSpec>(1), Slo{}, nlohmann::json::object()));
  EXPECT_TRUE(empty["ttft_ms"]["p50"].is_null());
  EXPECT_EQ(empty["ttft_ms"]["count"], 0);
  EXPECT_TRUE(empty["throughput"]["goodput_requests_per_s"].is_null());
}

}  // namespace
}  // namespace tide::bench
