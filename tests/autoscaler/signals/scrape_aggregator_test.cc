// The scrape source's arithmetic on crafted /metrics pages: sums and means, per-replica rates,
// counters that reset, replicas that join, leave or miss a tick, the gateway's pool series, and
// the SLO share read between histogram bounds.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/metrics_page.h"
#include "autoscaler/signals/scrape_source.h"

namespace tide::autoscaler::signals {
namespace {

// A replica's page in the shape tide serve renders it (src/common/metrics.cc), with the TTFT
// histogram's cumulative bucket counts at 0.5, 1 and 2.5 seconds and +Inf.
std::string replica_page(double running, double waiting, double kv, double finished_stop, double finished_length,
                         double generated, std::array<double, 4> ttft) {
  return fmt::format(R"(# HELP tide_requests_finished_total Requests that finished, by finish reason.
# TYPE tide_requests_finished_total counter
tide_requests_finished_total{{finish_reason="stop"}} {}
tide_requests_finished_total{{finish_reason="length"}} {}
# HELP tide_num_requests_running Requests in the running batch.
# TYPE tide_num_requests_running gauge
tide_num_requests_running {}
# TYPE tide_num_requests_waiting gauge
tide_num_requests_waiting {}
# TYPE tide_kv_cache_usage_ratio gauge
tide_kv_cache_usage_ratio {}
# TYPE tide_generation_tokens_total counter
tide_generation_tokens_total {}
# TYPE tide_time_to_first_token_seconds histogram
tide_time_to_first_token_seconds_bucket{{le="0.5"}} {}
tide_time_to_first_token_seconds_bucket{{le="1"}} {}
tide_time_to_first_token_seconds_bucket{{le="2.5"}} {}
tide_time_to_first_token_seconds_bucket{{le="+Inf"}} {}
tide_time_to_first_token_seconds_sum 12.5
tide_time_to_first_token_seconds_count {}
)",
                     finished_stop, finished_length, running, waiting, kv, generated, ttft[0], ttft[1], ttft[2],
                     ttft[3], ttft[3]);
}

std::string gateway_page(double routed_a, double routed_b, double queued_a, double queued_b) {
  return fmt::format(R"(# TYPE tide_gateway_routed_total counter
tide_gateway_routed_total{{route="/v1/chat/completions",pool="a",reason="primary"}} {}
tide_gateway_routed_total{{route="/v1/chat/completions",pool="b",reason="primary"}} {}
# TYPE tide_gateway_queue_size gauge
tide_gateway_queue_size{{pool="a"}} {}
tide_gateway_queue_size{{pool="b"}} {}
# TYPE tide_gateway_requests_total counter
tide_gateway_requests_total{{route="/metrics",code="200"}} 1000
)",
                     routed_a, routed_b, queued_a, queued_b);
}

using Pages = std::vector<std::pair<std::string, std::string>>;

TEST(MetricsPage, ReadsLabelsEscapesAndBuckets) {
  const MetricsPage page(
      "# HELP x y\nm{a=\"1\",b=\"q\\\"uote\"} 2\nm{a=\"2\"} 3 1700000000\nbad line\nm{a=\"3\"} NaN\n"
      "h_bucket{le=\"1\"} 4\r\nh_bucket{le=\"+Inf\"} 6\nh_bucket{le=\"0.5\"} 1\n");
  EXPECT_EQ(page.sum("m").value, 5);
  EXPECT_EQ(page.sum("m", "a", "2").value, 3);
  EXPECT_FALSE(page.sum("m", "a", "9").found);
  EXPECT_EQ(*page.samples()[0].label("b"), "q\"uote");
  const Buckets buckets = page.buckets("h");
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0], std::make_pair(0.5, 1.0));
  EXPECT_EQ(buckets[1], std::make_pair(1.0, 4.0));
  EXPECT_TRUE(std::isinf(buckets[2].first));
}

TEST(MetricsPage, ReadsARealTideServePage) {
  std::ifstream in(TIDE_SIGNALS_TEST_DIR "/tide_serve_metrics.txt");
  std::stringstream text;
  text << in.rdbuf();
  const MetricsPage page(text.str());
  EXPECT_EQ(page.sum("tide_requests_finished_total").value, 2);
  EXPECT_EQ(page.sum("tide_requests_finished_total", "finish_reason", "length").value, 2);
  EXPECT_EQ(page.sum("tide_generation_tokens_total").value, 8);
  const Buckets ttft = page.buckets("tide_time_to_first_token_seconds");
  ASSERT_EQ(ttft.size(), 22u);  // 21 bounds and +Inf
  EXPECT_EQ(ttft.front().first, 0.001);
  EXPECT_TRUE(std::isinf(ttft.back().first));
  EXPECT_EQ(ttft.back().second, 2);

  ScrapeAggregator agg(1.0, "");
  const PoolSample s = agg.add(0, {{"r1", text.str()}}, {"r1"}, std::nullopt);
  EXPECT_EQ(s.ready, 1);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_EQ(s.kv_usage, 0);
}

TEST(SloInterpolation, ReadsTheCountAtABoundOrLinearlyBetweenBounds) {
  const Buckets b = {{0.5, 10}, {1.0, 30}, {2.5, 60}, {INFINITY, 100}};
  EXPECT_DOUBLE_EQ(count_at_or_below(b, 1.0), 30);
  EXPECT_DOUBLE_EQ(count_at_or_below(b, 0.75), 20);   // halfway between 0.5 (10) and 1 (30)
  EXPECT_DOUBLE_EQ(count_at_or_below(b, 0.25), 5);    // halfway between 0 (0) and 0.5 (10)
  EXPECT_DOUBLE_EQ(count_at_or_below(b, 1.75), 45);   // halfway between 1 (30) and 2.5 (60)
  EXPECT_DOUBLE_EQ(count_at_or_below(b, 100.0), 60);  // beyond the last finite bound: not known to be within
  EXPECT_DOUBLE_EQ(count_at_or_below({}, 1.0), 0);
}

TEST(ScrapeAggregator, SumsGaugesAndAveragesKvUsage) {
  ScrapeAggregator agg(1.0, "");
  const PoolSample s = agg.add(
      10,
      {{"r1", replica_page(3, 1, 0.5, 0, 0, 0, {0, 0, 0, 0})}, {"r2", replica_page(5, 2, 0.25, 0, 0, 0, {0, 0, 0, 0})}},
      {"r1", "r2"}, std::nullopt);
  EXPECT_EQ(s.time_s, 10);
  EXPECT_EQ(s.ready, 2);
  EXPECT_EQ(s.starting, 0);
  EXPECT_EQ(s.in_flight, 8);
  EXPECT_EQ(s.waiting, 3);
  EXPECT_DOUBLE_EQ(s.kv_usage, 0.375);
  // A first sample has no baseline: no rates, and no SLO share.
  EXPECT_EQ(s.completion_rate, 0);
  EXPECT_EQ(s.tokens_per_s, 0);
  EXPECT_EQ(s.arrival_rate, 0);
  EXPECT_TRUE(std::isnan(s.slo_attainment));
}

TEST(ScrapeAggregator, RatesAreCounterIncreasesOverTheInterval) {
  ScrapeAggregator agg(1.0, "");
  agg.add(0, {{"r1", replica_page(2, 0, 0, 10, 5, 1000, {5, 10, 14, 15})}}, {"r1"}, std::nullopt);
  const PoolSample s =
      agg.add(10, {{"r1", replica_page(4, 1, 0, 30, 15, 6000, {15, 30, 44, 45})}}, {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 3.0);  // (45 - 15) finished / 10 s, summed over finish reasons
  EXPECT_DOUBLE_EQ(s.tokens_per_s, 500.0);
  // No gateway: arrivals are finished plus the growth of running + waiting: (30 + 3) / 10 s.
  EXPECT_DOUBLE_EQ(s.arrival_rate, 3.3);
  EXPECT_DOUBLE_EQ(s.slo_attainment, 20.0 / 30.0);  // 20 of 30 new first tokens within 1 s
}

TEST(ScrapeAggregator, SloBetweenBucketBoundsIsInterpolated) {
  ScrapeAggregator agg(0.75, "");
  agg.add(0, {{"r1", replica_page(0, 0, 0, 0, 0, 0, {0, 0, 0, 0})}}, {"r1"}, std::nullopt);
  const PoolSample s = agg.add(5, {{"r1", replica_page(0, 0, 0, 0, 0, 0, {10, 30, 40, 40})}}, {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.slo_attainment, 20.0 / 40.0);  // 10 + (30 - 10) / 2 within 0.75 s
}

TEST(ScrapeAggregator, ARestartedReplicaCountsFromZeroNotANegativeOrHugeRate) {
  ScrapeAggregator agg(1.0, "");
  agg.add(0, {{"r1", replica_page(5, 5, 0, 1000, 0, 900000, {900, 950, 990, 1000})}}, {"r1"}, std::nullopt);
  const PoolSample s =
      agg.add(10, {{"r1", replica_page(1, 0, 0, 20, 0, 3000, {10, 20, 20, 20})}}, {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 2.0);  // 20 since the restart
  EXPECT_DOUBLE_EQ(s.tokens_per_s, 300.0);
  EXPECT_DOUBLE_EQ(s.arrival_rate, 2.1);  // 20 finished + 1 running, the old queue died with the process
  EXPECT_DOUBLE_EQ(s.slo_attainment, 1.0);
}

TEST(ScrapeAggregator, ReplicasJoiningCountFromTheirSecondScrapeAndLeavingOnesAreForgotten) {
  ScrapeAggregator agg(1.0, "");
  agg.add(0, {{"r1", replica_page(0, 0, 0, 100, 0, 0, {0, 0, 0, 0})}}, {"r1"}, std::nullopt);
  // r2 joins with a large lifetime count: no baseline, no contribution yet.
  PoolSample s = agg.add(
      10,
      {{"r1", replica_page(0, 0, 0, 110, 0, 0, {0, 0, 0, 0})}, {"r2", replica_page(0, 0, 0, 5000, 0, 0, {0, 0, 0, 0})}},
      {"r1", "r2"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 1.0);
  EXPECT_EQ(s.ready, 2);
  s = agg.add(
      20,
      {{"r1", replica_page(0, 0, 0, 120, 0, 0, {0, 0, 0, 0})}, {"r2", replica_page(0, 0, 0, 5020, 0, 0, {0, 0, 0, 0})}},
      {"r1", "r2"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 3.0);
  // r2 leaves the pool; when a replica of that address comes back later it starts afresh.
  s = agg.add(30, {{"r1", replica_page(0, 0, 0, 130, 0, 0, {0, 0, 0, 0})}}, {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 1.0);
  EXPECT_EQ(s.ready, 1);
  s = agg.add(
      40,
      {{"r1", replica_page(0, 0, 0, 140, 0, 0, {0, 0, 0, 0})}, {"r2", replica_page(0, 0, 0, 9000, 0, 0, {0, 0, 0, 0})}},
      {"r1", "r2"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 1.0);
}

TEST(ScrapeAggregator, AReplicaThatMissedATickIsRatedOverItsOwnInterval) {
  ScrapeAggregator agg(1.0, "");
  agg.add(0, {{"r1", replica_page(0, 0, 0, 0, 0, 0, {0, 0, 0, 0})}}, {"r1"}, std::nullopt);
  const PoolSample missed = agg.add(10, {}, {"r1"}, std::nullopt);  // unreachable, still in the pool
  EXPECT_EQ(missed.ready, 0);
  const PoolSample s = agg.add(20, {{"r1", replica_page(0, 0, 0, 40, 0, 0, {0, 0, 0, 0})}}, {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.completion_rate, 2.0);  // 40 over 20 s, not 40 over 10 s
}

TEST(ScrapeAggregator, TheGatewayGivesArrivalsAndHeldRequestsOfItsPool) {
  ScrapeAggregator agg(1.0, "a");
  const std::string r = replica_page(1, 2, 0, 0, 0, 0, {0, 0, 0, 0});
  PoolSample s = agg.add(0, {{"r1", r}}, {"r1"}, gateway_page(100, 900, 4, 40));
  EXPECT_EQ(s.waiting, 6);  // 2 at the replica + 4 held for pool a
  EXPECT_EQ(s.arrival_rate, 0);
  s = agg.add(10, {{"r1", r}}, {"r1"}, gateway_page(150, 2000, 4, 40));
  EXPECT_DOUBLE_EQ(s.arrival_rate, 5.0);  // pool a only; /metrics scrapes are not arrivals

  ScrapeAggregator all(1.0, "");
  all.add(0, {}, {}, gateway_page(100, 900, 4, 40));
  s = all.add(10, {}, {}, gateway_page(150, 1000, 1, 2));
  EXPECT_DOUBLE_EQ(s.arrival_rate, 15.0);
  EXPECT_EQ(s.waiting, 3);
  EXPECT_EQ(s.ready, 0);
}

TEST(ScrapeAggregator, TheFullestEngineOfAReplicaDecidesItsKvUsage) {
  ScrapeAggregator agg(1.0, "");
  const PoolSample s =
      agg.add(0, {{"r1", "tide_kv_cache_usage_ratio{rank=\"0\"} 0.2\ntide_kv_cache_usage_ratio{rank=\"1\"} 0.9\n"}},
              {"r1"}, std::nullopt);
  EXPECT_DOUBLE_EQ(s.kv_usage, 0.9);
}

}  // namespace
}  // namespace tide::autoscaler::signals
