// The `signals:` section: defaults, both sources, and the errors that name the field.
#include "autoscaler/signals/signals_config.h"

#include <gtest/gtest.h>

#include "autoscaler/signals/prometheus_source.h"
#include "autoscaler/signals/scrape_source.h"
#include "common/error.h"

namespace tide::autoscaler::signals {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_signals_config(YAML::Load(yaml));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SignalsConfig, DefaultsToScrapingWithAOneSecondSlo) {
  const SignalsConfig c = parse_signals_config(YAML::Node());
  EXPECT_EQ(c.source, SignalsConfig::Source::kScrape);
  EXPECT_EQ(c.slo_ttft_s, 1.0);
  EXPECT_EQ(c.timeout, std::chrono::seconds(2));
  EXPECT_TRUE(c.gateway_url.empty());
  const auto source = make_signal_source(c, [] { return std::vector<std::string>{}; });
  EXPECT_NE(dynamic_cast<ScrapeSource*>(source.get()), nullptr);
}

TEST(SignalsConfig, ScrapeWithAGateway) {
  const SignalsConfig c = parse_signals_config(
      YAML::Load("{source: scrape, slo_ttft: 750ms, timeout: 1s, scrape: {gateway: 'http://127.0.0.1:8080', pool: "
                 "chat}}"));
  EXPECT_EQ(c.slo_ttft_s, 0.75);
  EXPECT_EQ(c.timeout, std::chrono::seconds(1));
  EXPECT_EQ(c.gateway_url, "http://127.0.0.1:8080");
  EXPECT_EQ(c.gateway_pool, "chat");
}

TEST(SignalsConfig, PrometheusWithAnOverriddenQuery) {
  const SignalsConfig c = parse_signals_config(YAML::Load(R"(
source: prometheus
slo_ttft: 2.5s
timeout: 3s
prometheus:
  url: http://prometheus.monitoring:9090
  queries:
    in_flight: sum(tide_num_requests_running{namespace="inference"})
)"));
  EXPECT_EQ(c.source, SignalsConfig::Source::kPrometheus);
  EXPECT_EQ(c.prometheus.url, "http://prometheus.monitoring:9090");
  EXPECT_EQ(c.prometheus.queries.in_flight, R"(sum(tide_num_requests_running{namespace="inference"}))");
  EXPECT_EQ(c.prometheus.queries.ready, PrometheusQueries{}.ready);
  EXPECT_EQ(c.prometheus.slo_ttft_s, 2.5);
  EXPECT_EQ(c.prometheus.timeout, std::chrono::seconds(3));
  const auto source = make_signal_source(c, {});
  EXPECT_NE(dynamic_cast<PrometheusSource*>(source.get()), nullptr);
}

TEST(SignalsConfig, ErrorsNameTheField) {
  EXPECT_NE(error_of("{source: statsd}").find("signals.source: \"statsd\" is not scrape or prometheus"),
            std::string::npos);
  EXPECT_NE(error_of("{source: prometheus}").find("signals.prometheus.url: missing"), std::string::npos);
  EXPECT_NE(error_of("{source: prometheus, prometheus: {url: 'https://p:9090'}}").find("https is not supported"),
            std::string::npos);
  EXPECT_NE(
      error_of("{source: prometheus, prometheus: {url: 'http://p:9090', queries: {inflight: x}}}").find("inflight"),
      std::string::npos);
  EXPECT_NE(error_of("{source: prometheus, prometheus: {url: 'http://p:9090', queries: {ready: ''}}}")
                .find("signals.prometheus.queries.ready: must not be empty"),
            std::string::npos);
  EXPECT_NE(
      error_of("{source: scrape, prometheus: {url: 'http://p'}}").find("signals.prometheus: set, but source is scrape"),
      std::string::npos);
  EXPECT_NE(error_of("{source: prometheus, scrape: {}, prometheus: {url: 'http://p'}}").find("signals.scrape: set"),
            std::string::npos);
  EXPECT_NE(error_of("{scrape: {gateway: 'localhost:8080'}}").find("signals.scrape.gateway"), std::string::npos);
  EXPECT_NE(error_of("{slo_ttft: 0}").find("signals.slo_ttft"), std::string::npos);
  EXPECT_NE(error_of("{source: prometheus, slo_ttft: 0.6s, prometheus: {url: 'http://p'}}")
                .find("0.6s is not a bucket bound"),
            std::string::npos);
  EXPECT_EQ(error_of("{source: prometheus, slo_ttft: 0.6s, prometheus: {url: 'http://p', queries: {slo_attainment: "
                     "x}}}"),
            "(no error)");
  EXPECT_NE(error_of("{sources: scrape}").find("sources"), std::string::npos);
}

}  // namespace
}  // namespace tide::autoscaler::signals
