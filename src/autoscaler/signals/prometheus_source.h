#pragma once
// Samples a pool from a Prometheus server that already scrapes the replicas and the gateway:
// one instant query per PoolSample field through the HTTP API
// (GET /api/v1/query?query=<PromQL>&time=<unix seconds>), all at the same evaluation time.
// Each query must aggregate to one number (a scalar, or a vector of at most one series);
// an empty vector (no series: e.g. a pool scaled to zero) reads as 0, NaN for slo_attainment.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "autoscaler/signal_source.h"
#include "autoscaler/signals/http_get.h"

namespace tide::autoscaler::signals {

// PromQL per field. Defaults (docs/autoscaler-kubernetes.md explains them) assume the
// replicas are scraped as job "tide" and the gateway as job "tide-gateway".
struct PrometheusQueries {
  std::string ready = R"(sum(up{job="tide"}))";
  std::string in_flight = R"(sum(tide_num_requests_running{job="tide"}))";
  std::string waiting =
      R"(sum(tide_num_requests_waiting{job="tide"}) + (sum(tide_gateway_queue_size{job="tide-gateway"}) or vector(0)))";
  std::string kv_usage = R"(avg(tide_kv_cache_usage_ratio{job="tide"}))";
  std::string tokens_per_s = R"(sum(rate(tide_generation_tokens_total{job="tide"}[1m])))";
  std::string arrival_rate = R"(sum(rate(tide_gateway_routed_total{job="tide-gateway"}[1m])))";
  std::string completion_rate = R"(sum(rate(tide_requests_finished_total{job="tide"}[1m])))";
  // Empty: built from the SLO, see default_slo_query.
  std::string slo_attainment;
};

// The share of first tokens within `slo_ttft_s` over the last minute. `slo_ttft_s` must be one
// of the bucket bounds of tide_time_to_first_token_seconds (Prometheus matches `le` as text).
std::string default_slo_query(double slo_ttft_s);
// The `le` label text Tide writes for a bucket bound (1 → "1", 0.25 → "0.25").
std::string le_text(double bound);

struct PrometheusConfig {
  std::string url;  // base URL, e.g. http://prometheus.monitoring:9090
  PrometheusQueries queries;
  double slo_ttft_s = 1.0;
  std::chrono::milliseconds timeout{5'000};
};

// Reads one instant-query answer. Returns the value, or nullopt for an empty vector. Throws
// tide::Error for an error answer (with Prometheus's errorType and error), for anything that is
// not the documented shape, and for a vector of more than one series (the query must
// aggregate, e.g. with sum()).
std::optional<double> parse_prometheus_response(std::string_view body);

class PrometheusSource : public SignalSource {
 public:
  explicit PrometheusSource(PrometheusConfig config);
  // Throws tide::Error when Prometheus cannot be reached or answers an error.
  PoolSample sample(double now_s) override;

 private:
  double query(const std::string& field, const std::string& promql, const std::string& time, double if_empty);

  PrometheusConfig config_;
  HttpBase base_;
};

}  // namespace tide::autoscaler::signals
