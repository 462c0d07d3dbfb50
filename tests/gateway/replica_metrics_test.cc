#include "gateway/replica_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "common/metrics.h"

namespace tide::gateway {
namespace {

// The engine's families as tide serve registers them (src/engine/engine_metrics.cc), rendered
// by the same registry, so a renamed metric or a changed exposition breaks this test.
TEST(ReplicaMetrics, ReadsAPageRenderedByTidesOwnRegistry) {
  MetricsRegistry r;
  r.counter("tide_requests_finished_total", "Requests that finished.", {"finish_reason"}).labels({"stop"}).inc(7);
  r.gauge("tide_num_requests_running", "Requests in the running batch.").get().set(12);
  r.gauge("tide_num_requests_waiting", "Requests queued.").get().set(3);
  r.gauge("tide_kv_cache_usage_ratio", "Share of KV cache blocks held.").get().set(0.8125);
  r.counter("tide_prefix_cache_queries_total", "Prompt tokens looked up.").get().inc(4096);
  r.counter("tide_prefix_cache_hits_total", "Prompt tokens found.").get().inc(1024);
  r.histogram("tide_time_to_first_token_seconds", "Arrival to first token.", {0.1, 1}).get().observe(0.5);
  const std::string page = r.render();
  ASSERT_NE(page.find("# TYPE tide_num_requests_running gauge"), std::string::npos) << page;

  const ReplicaLoad load = parse_replica_metrics(page);
  EXPECT_EQ(load.running, 12);
  EXPECT_EQ(load.waiting, 3);
  EXPECT_EQ(load.kv_usage, 0.8125);
  EXPECT_EQ(load.prefix_queries, 4096);
  EXPECT_EQ(load.prefix_hits, 1024);
}

TEST(ReplicaMetrics, ReadsTideServeText) {
  const ReplicaLoad load = parse_replica_metrics(R"(# HELP tide_requests_rejected_total Requests refused at admission.
# TYPE tide_requests_rejected_total counter
tide_requests_rejected_total{reason="overloaded"} 4
# HELP tide_num_requests_running Requests in the running batch.
# TYPE tide_num_requests_running gauge
tide_num_requests_running 5
# HELP tide_num_requests_waiting Requests queued for admission (including preempted ones).
# TYPE tide_num_requests_waiting gauge
tide_num_requests_waiting 0
# HELP tide_kv_cache_usage_ratio Share of KV cache blocks held by requests (0 to 1).
# TYPE tide_kv_cache_usage_ratio gauge
tide_kv_cache_usage_ratio 0.25
tide_time_to_first_token_seconds_bucket{le="+Inf"} 9
)");
  EXPECT_EQ(load.running, 5);
  EXPECT_EQ(load.waiting, 0);  // present and zero, not absent
  EXPECT_EQ(load.kv_usage, 0.25);
  EXPECT_EQ(load.prefix_queries, std::nullopt);
  EXPECT_EQ(load.prefix_hits, std::nullopt);
}

TEST(ReplicaMetrics, ReadsVllmAndSumsOverLabelSets) {
  // vLLM V1 with two data-parallel engines: counts add up, the usage ratio is the fullest.
  const ReplicaLoad load = parse_replica_metrics(R"(# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 8.0
vllm:num_requests_running{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 6.0
vllm:num_requests_waiting{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 2.0
vllm:num_requests_waiting{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 1.0
vllm:kv_cache_usage_perc{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 0.75
vllm:gpu_cache_usage_perc{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 0.5
vllm:gpu_cache_usage_perc{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 0.75
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 1000.0
vllm:prefix_cache_queries_total{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 500.0
vllm:prefix_cache_queries_created{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 1.7e9
vllm:prefix_cache_hits_total{engine="0",model_name="deepseek-ai/DeepSeek-V3"} 300.0
vllm:prefix_cache_hits_total{engine="1",model_name="deepseek-ai/DeepSeek-V3"} 200.0
)");
  EXPECT_EQ(load.running, 14);
  EXPECT_EQ(load.waiting, 3);
  EXPECT_EQ(load.kv_usage, 0.75);  // not 1.25 and not counted twice under the old name
  EXPECT_EQ(load.prefix_queries, 1500);
  EXPECT_EQ(load.prefix_hits, 500);
}

TEST(ReplicaMetrics, ReadsOlderVllmNames) {
  const ReplicaLoad load = parse_replica_metrics(
      "vllm:gpu_cache_usage_perc{model_name=\"m\"} 0.3\n"
      "vllm:gpu_prefix_cache_queries_total{model_name=\"m\"} 10\n"
      "vllm:gpu_prefix_cache_hits_total{model_name=\"m\"} 4\n");
  EXPECT_EQ(load.kv_usage, 0.3);
  EXPECT_EQ(load.prefix_queries, 10);
  EXPECT_EQ(load.prefix_hits, 4);
}

TEST(ReplicaMetrics, ReadsSglang) {
  const ReplicaLoad load = parse_replica_metrics(R"(# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="deepseek-ai/DeepSeek-V3",tp_rank="0"} 17.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="deepseek-ai/DeepSeek-V3",tp_rank="0"} 4.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="deepseek-ai/DeepSeek-V3",tp_rank="0"} 0.62
sglang:cache_hit_rate{model_name="deepseek-ai/DeepSeek-V3",tp_rank="0"} 0.4
)");
  EXPECT_EQ(load.running, 17);
  EXPECT_EQ(load.waiting, 4);
  EXPECT_EQ(load.kv_usage, 0.62);
  EXPECT_EQ(load.prefix_queries, std::nullopt);
}

TEST(ReplicaMetrics, TidesNamesWinOverOthersOnOnePage) {
  const ReplicaLoad load = parse_replica_metrics(
      "vllm:num_requests_running 100\ntide_num_requests_running 2\nsglang:num_running_reqs 50\n");
  EXPECT_EQ(load.running, 2);
}

TEST(ReplicaMetrics, AcceptsTheFormatsCorners) {
  const ReplicaLoad load = parse_replica_metrics(
      "  tide_num_requests_running{a=\"x\\\"}y\", b = \"sp ace\\\\\",} 3 1712345678000\r\n"  // escapes, trailing comma, timestamp
      "tide_num_requests_running{} +2e0\n"                                                  // empty labels, signed exponent
      "tide_num_requests_waiting\t\t4\n"
      "tide_kv_cache_usage_ratio 1.5\n"  // clamped
      "tide_prefix_cache_hits_total .5\n");
  EXPECT_EQ(load.running, 5);
  EXPECT_EQ(load.waiting, 4);
  EXPECT_EQ(load.kv_usage, 1.0);
  EXPECT_EQ(load.prefix_hits, 0.5);
}

TEST(ReplicaMetrics, SkipsMalformedAndHostileLines) {
  const ReplicaLoad load = parse_replica_metrics(
      "tide_num_requests_running 1\n"
      "tide_num_requests_running NaN\n"
      "tide_num_requests_running +Inf\n"
      "tide_num_requests_running -Inf\n"
      "tide_num_requests_running inf\n"
      "tide_num_requests_running -4\n"         // a count cannot be negative
      "tide_num_requests_running 1e400\n"      // out of a double's range
      "tide_num_requests_running 0x10\n"
      "tide_num_requests_running 3 junk\n"
      "tide_num_requests_running 3 12.5\n"     // a timestamp is an integer
      "tide_num_requests_running\n"
      "tide_num_requests_running  \n"
      "tide_num_requests_running{a=\"unterminated} 7\n"
      "tide_num_requests_running{a=x} 7\n"
      "tide_num_requests_running{=\"x\"} 7\n"
      "tide_num_requests_running{a=\"x\" b=\"y\"} 7\n"
      "tide_num_requests_running{a=\"x\"}7\n"
      "tide_num_requests_running7 7\n"
      "tide_num_requests_running_other 7\n"
      "# tide_num_requests_running 7\n"
      "{} 7\n"
      "\n\n\r\n"
      "\xff\xfe tide_num_requests_running 7\n"
      "tide_num_requests_waiting 2");  // no final newline
  EXPECT_EQ(load.running, 1);
  EXPECT_EQ(load.waiting, 2);
  EXPECT_EQ(load.kv_usage, std::nullopt);
}

TEST(ReplicaMetrics, SumsThatOverflowAreDropped) {
  std::string page;
  for (int i = 0; i < 4; ++i) page += "tide_num_requests_waiting 1e308\n";
  EXPECT_EQ(parse_replica_metrics(page).waiting, std::nullopt);
}

TEST(ReplicaMetrics, EmptyAndUnrelatedPagesHaveNoSignals) {
  EXPECT_EQ(parse_replica_metrics(""), ReplicaLoad{});
  EXPECT_EQ(parse_replica_metrics("<html><body>502 Bad Gateway</body></html>"), ReplicaLoad{});
  EXPECT_EQ(parse_replica_metrics("process_cpu_seconds_total 12.5\n"), ReplicaLoad{});
}

TEST(ReplicaMetrics, RandomBytesNeverThrowAndKeepInvariants) {
  std::mt19937 rng(7);
  const std::string alphabet = "tide_num_requests_running{}=\", \n\t#.e+-0123456789:vllmsg\\\r";
  for (int round = 0; round < 2000; ++round) {
    std::string page(rng() % 200, ' ');
    for (char& c : page) c = (rng() % 8 == 0) ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    const ReplicaLoad load = parse_replica_metrics(page);
    for (const auto& v : {load.running, load.waiting, load.prefix_queries, load.prefix_hits, load.kv_usage})
      if (v) {
        ASSERT_TRUE(std::isfinite(*v) && *v >= 0) << page;
      }
    if (load.kv_usage) {
      ASSERT_LE(*load.kv_usage, 1.0);
    }
  }
}

TEST(ReplicaMetrics, ApplyFillsOnlyWhatThePageHad) {
  EndpointSnapshot e{.id = "h:1", .in_flight = 2, .running = 9, .waiting = 9, .kv_usage = 0.9};
  apply_replica_load({.running = 3.7, .kv_usage = 0.5}, e);
  EXPECT_EQ(e.running, 3u);
  EXPECT_EQ(e.waiting, 9u);  // not on the page: unchanged
  EXPECT_EQ(e.kv_usage, 0.5);
  EXPECT_EQ(e.in_flight, 2u);
  apply_replica_load({.waiting = 1e12}, e);
  EXPECT_EQ(e.waiting, 4294967295u);
}

// What the health watcher stores from any page: never a conversion of an out-of-range double.
TEST(ReplicaMetrics, CountsAreHeldToTheRangeOfTheSnapshot) {
  EXPECT_EQ(replica_count(2.7), 2u);
  EXPECT_EQ(replica_count(-3), 0u);
  EXPECT_EQ(replica_count(1e300), 4294967295u);
  EXPECT_EQ(replica_count(std::nan("")), 0u);
  EndpointSnapshot e{.id = "h:1"};
  apply_replica_load({.running = -5, .waiting = 1e300}, e);
  EXPECT_EQ(e.running, 0u);
  EXPECT_EQ(e.waiting, 4294967295u);
}

}  // namespace
}  // namespace tide::gateway
