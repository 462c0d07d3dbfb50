#pragma once
// The load signals the balancers use, read from a replica's /metrics page (Prometheus text
// format 0.0.4). Besides Tide's own names (docs/metrics.md) it reads vLLM's and SGLang's, so
// the gateway can front those engines too:
//
//   signal          tide serve                         vLLM                                   SGLang
//   running         tide_num_requests_running          vllm:num_requests_running              sglang:num_running_reqs
//   waiting         tide_num_requests_waiting          vllm:num_requests_waiting              sglang:num_queue_reqs
//   kv_usage        tide_kv_cache_usage_ratio          vllm:kv_cache_usage_perc,              sglang:token_usage
//                                                      vllm:gpu_cache_usage_perc (older)
//   prefix_queries  tide_prefix_cache_queries_total    vllm:prefix_cache_queries_total,
//                                                      vllm:gpu_prefix_cache_queries_total (older)
//   prefix_hits     tide_prefix_cache_hits_total       vllm:prefix_cache_hits_total,
//                                                      vllm:gpu_prefix_cache_hits_total (older)
//
// A signal is read from the first name of its row that the page has (left to right, then top
// to bottom), so a page exporting an old and a new name is not counted twice. Counts and
// counters are summed over label sets (one engine per data-parallel rank, or one per model);
// kv_usage, a ratio, is the largest over label sets (the fullest engine decides whether a long
// prompt has to wait), clamped to 0..1.
//
// The page is untrusted input: comments, unknown metrics, malformed lines and values that are
// negative, NaN or infinite are skipped, never thrown on. Linear in the input's size.
#include <optional>
#include <string_view>

#include "gateway/balancer.h"

namespace tide::gateway {

struct ReplicaLoad {
  std::optional<double> running{};
  std::optional<double> waiting{};
  std::optional<double> kv_usage{};        // 0..1
  std::optional<double> prefix_queries{};  // counter: prompt tokens looked up
  std::optional<double> prefix_hits{};     // counter: prompt tokens found
  bool operator==(const ReplicaLoad&) const = default;
};

ReplicaLoad parse_replica_metrics(std::string_view prometheus_text);

// A scraped count as the balancers hold it: rounded down and held to [0, uint32 max] (a page may
// say anything: -3, 1e300, NaN reads as 0).
uint32_t replica_count(double value);

// Copies the signals a page had into the balancers' snapshot (counts through replica_count);
// fields the page lacked keep their value.
void apply_replica_load(const ReplicaLoad& load, EndpointSnapshot& endpoint);

}  // namespace tide::gateway
