#pragma once
// The engine's Prometheus metrics (docs/metrics.md says what each is for). Names follow
// vLLM's where a router or autoscaler already knows them, with the tide_ prefix.
#include "common/metrics.h"

namespace tide {

struct EngineMetrics {
  explicit EngineMetrics(MetricsRegistry& r);

  Family<Counter>& requests_finished;  // {finish_reason}
  Family<Counter>& requests_rejected;  // {reason}
  Gauge& running;
  Gauge& waiting;
  Gauge& kv_usage;
  Gauge& kv_blocks_total;
  Gauge& kv_blocks_free;
  Counter& prefix_queries;
  Counter& prefix_hits;
  Counter& preemptions;
  Counter& prompt_tokens;
  Counter& generation_tokens;
  Histogram& ttft;
  Histogram& itl;
  Histogram& e2e;
  Histogram& queue_time;
  Histogram& request_prompt_tokens;
  Histogram& request_generation_tokens;
  Histogram& step_tokens;
  Histogram& step_seconds;
  Histogram& scheduler_seconds;
};

}  // namespace tide
