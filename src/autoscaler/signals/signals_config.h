#pragma once
// The `signals:` section of the autoscaler's configuration, and the source it describes:
//
//   signals:
//     source: scrape              # or prometheus
//     slo_ttft: 1s                # the time-to-first-token SLO behind slo_attainment
//     timeout: 2s                 # per scrape, or per Prometheus query
//     scrape:                     # source: scrape
//       gateway: http://127.0.0.1:8080   # optional: its queue and arrivals
//       pool: default                    # optional: the gateway pool of these replicas
//     prometheus:                 # source: prometheus
//       url: http://prometheus:9090
//       queries: {in_flight: "...", ...}  # optional overrides of the default PromQL
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autoscaler/signal_source.h"
#include "autoscaler/signals/prometheus_source.h"

namespace tide::autoscaler::signals {

struct SignalsConfig {
  enum class Source { kScrape, kPrometheus };
  Source source = Source::kScrape;
  double slo_ttft_s = 1.0;
  std::chrono::milliseconds timeout{2'000};
  std::string gateway_url;      // scrape only
  std::string gateway_pool;     // scrape only
  PrometheusConfig prometheus;  // prometheus only (its slo_ttft_s and timeout are the ones above)
};

// Strict: unknown keys, an unknown source, a section for the other source, a missing
// prometheus.url, or (with the default SLO query) an slo_ttft that is no bucket bound of
// tide_time_to_first_token_seconds throw tide::Error naming the field.
SignalsConfig parse_signals_config(const YAML::Node& node, const std::string& path = "signals");

// The source the config describes; `replicas` lists the pool's base URLs now (scrape only).
std::unique_ptr<SignalSource> make_signal_source(const SignalsConfig& config,
                                                 std::function<std::vector<std::string>()> replicas);

}  // namespace tide::autoscaler::signals
