#include "autoscaler/signals/signals_config.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "autoscaler/signals/http_get.h"
#include "autoscaler/signals/scrape_source.h"
#include "common/error.h"
#include "common/yaml_fields.h"

namespace tide::autoscaler::signals {
namespace {

// The bounds of tide serve's latency histograms (src/engine/engine_metrics.cc).
constexpr std::array<double, 21> kTtftBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,  0.3,
                                                0.5,   0.75,   1.0,   2.5,  5.0,   10.0, 20.0,  40.0, 80.0, 160.0};

}  // namespace

SignalsConfig parse_signals_config(const YAML::Node& node, const std::string& path) {
  YamlFields f(node, path);
  SignalsConfig c;
  const std::string source = f.string("source", "scrape");
  if (source == "scrape")
    c.source = SignalsConfig::Source::kScrape;
  else if (source == "prometheus")
    c.source = SignalsConfig::Source::kPrometheus;
  else
    fail("{}: \"{}\" is not scrape or prometheus", f.field_path("source"), source);
  c.slo_ttft_s =
      f.duration("slo_ttft", std::chrono::seconds(1), std::chrono::milliseconds(1), std::chrono::minutes(10)).count() /
      1000.0;
  c.timeout = f.duration("timeout", c.timeout, std::chrono::milliseconds(50), std::chrono::minutes(1));

  const bool prometheus = c.source == SignalsConfig::Source::kPrometheus;
  if (f.has("scrape") && prometheus) fail("{}: set, but source is prometheus", f.field_path("scrape"));
  if (f.has("prometheus") && !prometheus) fail("{}: set, but source is scrape", f.field_path("prometheus"));

  YamlFields scrape(f.child("scrape"), f.field_path("scrape"));
  c.gateway_url = scrape.string("gateway", "");
  if (!c.gateway_url.empty()) parse_http_base(c.gateway_url, scrape.field_path("gateway"));
  c.gateway_pool = scrape.string("pool", "");
  scrape.finish();

  YamlFields p(f.child("prometheus"), f.field_path("prometheus"));
  c.prometheus.url = p.string("url", "");
  if (prometheus) {
    if (c.prometheus.url.empty()) fail("{}: missing (the Prometheus server's base URL)", p.field_path("url"));
    parse_http_base(c.prometheus.url, p.field_path("url"));
  }
  YamlFields q(p.child("queries"), p.field_path("queries"));
  PrometheusQueries& queries = c.prometheus.queries;
  for (auto [key, field] : {std::pair{"ready", &queries.ready},
                            {"in_flight", &queries.in_flight},
                            {"waiting", &queries.waiting},
                            {"kv_usage", &queries.kv_usage},
                            {"tokens_per_s", &queries.tokens_per_s},
                            {"arrival_rate", &queries.arrival_rate},
                            {"completion_rate", &queries.completion_rate},
                            {"slo_attainment", &queries.slo_attainment}}) {
    *field = q.string(key, *field);
    if (q.has(key) && field->empty()) fail("{}: must not be empty", q.field_path(key));
  }
  q.finish();
  p.finish();
  f.finish();
  c.prometheus.slo_ttft_s = c.slo_ttft_s;
  c.prometheus.timeout = c.timeout;
  if (prometheus && queries.slo_attainment.empty() &&
      std::none_of(kTtftBounds.begin(), kTtftBounds.end(), [&](double b) { return std::abs(b - c.slo_ttft_s) < 1e-9; }))
    fail(
        "{}: {}s is not a bucket bound of tide_time_to_first_token_seconds, so Prometheus cannot count requests "
        "within it; pick one of 0.1s, 0.2s, 0.3s, 0.5s, 0.75s, 1s, 2.5s, 5s, 10s (or write "
        "{}.queries.slo_attainment)",
        f.field_path("slo_ttft"), c.slo_ttft_s, p.path());
  return c;
}

std::unique_ptr<SignalSource> make_signal_source(const SignalsConfig& config,
                                                 std::function<std::vector<std::string>()> replicas) {
  if (config.source == SignalsConfig::Source::kPrometheus) return std::make_unique<PrometheusSource>(config.prometheus);
  ScrapeOptions options;
  options.replicas = std::move(replicas);
  options.gateway_url = config.gateway_url;
  options.gateway_pool = config.gateway_pool;
  options.slo_ttft_s = config.slo_ttft_s;
  options.timeout = config.timeout;
  return std::make_unique<ScrapeSource>(std::move(options));
}

}  // namespace tide::autoscaler::signals
