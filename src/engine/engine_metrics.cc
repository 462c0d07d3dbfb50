#include "engine/engine_metrics.h"

namespace tide {
namespace {

const std::vector<double> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                                              0.5,   0.75,   1.0,   2.5,  5.0,   10.0, 20.0,  40.0, 80.0, 160.0};
const std::vector<double> kTokenBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
const std::vector<double> kStepBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};

}  // namespace

EngineMetrics::EngineMetrics(MetricsRegistry& r)
    : requests_finished(r.counter("tide_requests_finished_total",
                                  "Requests that finished, by finish reason (stop, length, cancelled, deadline, error).",
                                  {"finish_reason"})),
      requests_rejected(r.counter("tide_requests_rejected_total",
                                  "Requests refused at admission: overloaded (429, retry elsewhere) or invalid (400).",
                                  {"reason"})),
      running(r.gauge("tide_num_requests_running", "Requests in the running batch.").get()),
      waiting(r.gauge("tide_num_requests_waiting", "Requests queued for admission (including preempted ones).").get()),
      kv_usage(r.gauge("tide_kv_cache_usage_ratio", "Share of KV cache blocks held by requests (0 to 1).").get()),
      kv_blocks_total(r.gauge("tide_kv_cache_blocks_total", "KV cache blocks in total.").get()),
      kv_blocks_free(r.gauge("tide_kv_cache_blocks_free", "KV cache blocks held by no request.").get()),
      prefix_queries(r.counter("tide_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.").get()),
      prefix_hits(r.counter("tide_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.").get()),
      preemptions(r.counter("tide_num_preemptions_total", "Running requests preempted for lack of KV blocks.").get()),
      prompt_tokens(r.counter("tide_prompt_tokens_total", "Prompt tokens computed (prefill), excluding cache hits.").get()),
      generation_tokens(r.counter("tide_generation_tokens_total", "Tokens generated.").get()),
      ttft(r.histogram("tide_time_to_first_token_seconds", "Arrival to first generated token.", kLatencyBuckets).get()),
      itl(r.histogram("tide_inter_token_latency_seconds", "Time between consecutive generated tokens.", kLatencyBuckets).get()),
      e2e(r.histogram("tide_e2e_request_latency_seconds", "Arrival to finish.", kLatencyBuckets).get()),
      queue_time(r.histogram("tide_request_queue_time_seconds", "Arrival to first scheduling.", kLatencyBuckets).get()),
      request_prompt_tokens(r.histogram("tide_request_prompt_tokens", "Prompt length per request.", kTokenBuckets).get()),
      request_generation_tokens(
          r.histogram("tide_request_generation_tokens", "Generated tokens per request.", kTokenBuckets).get()),
      step_tokens(r.histogram("tide_iteration_tokens", "Tokens computed per engine step.", kTokenBuckets).get()),
      step_seconds(r.histogram("tide_engine_step_seconds", "Wall time of one engine step (schedule, forward, sample).",
                               kStepBuckets).get()),
      scheduler_seconds(r.histogram("tide_scheduler_step_seconds",
                                    "CPU time the scheduler and batch preparation spend per step (overhead).",
                                    kStepBuckets).get()) {}

}  // namespace tide
