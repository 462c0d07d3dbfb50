#include "autoscaler/signals/scrape_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "autoscaler/signals/http_get.h"
#include "common/metrics_page.h"
#include "common/error.h"

namespace tide::autoscaler::signals {
namespace {

// Counter increase between two readings; a lower reading means the process restarted from 0.
double increase(double now, double before) { return now >= before ? now - before : now; }

// Per-bucket increase; a histogram whose bounds changed or any bucket of which went down was
// reset, and its whole content is new.
Buckets increase(const Buckets& now, const Buckets& before) {
  bool reset = now.size() != before.size();
  for (std::size_t i = 0; !reset && i < now.size(); ++i)
    reset = now[i].first != before[i].first || now[i].second < before[i].second;
  if (reset) return now;
  Buckets out = now;
  for (std::size_t i = 0; i < out.size(); ++i) out[i].second -= before[i].second;
  return out;
}

}  // namespace

double count_at_or_below(const Buckets& buckets, double bound) {
  double lower = 0, lower_count = 0;
  for (const auto& [upper, count] : buckets) {
    if (std::isinf(upper)) break;
    if (bound == upper) return count;
    if (bound < upper) return lower_count + (count - lower_count) * (bound - lower) / (upper - lower);
    lower = upper;
    lower_count = count;
  }
  return lower_count;
}

ScrapeAggregator::ScrapeAggregator(double slo_ttft_s, std::string gateway_pool)
    : slo_ttft_s_(slo_ttft_s), gateway_pool_(std::move(gateway_pool)) {}

PoolSample ScrapeAggregator::add(double now_s, const std::vector<std::pair<std::string, std::string>>& replica_pages,
                                 const std::vector<std::string>& present,
                                 const std::optional<std::string>& gateway_page) {
  PoolSample s;
  s.time_s = now_s;
  double kv_sum = 0, arrivals_per_s = 0, ttft_good = 0, ttft_total = 0;
  for (const auto& [url, text] : replica_pages) {
    const MetricsPage page(text);
    Replica now;
    now.time_s = now_s;
    const double running = page.sum("tide_num_requests_running").value;
    const double waiting = page.sum("tide_num_requests_waiting").value;
    now.in_system = running + waiting;
    now.finished = page.sum("tide_requests_finished_total").value;
    now.generated = page.sum("tide_generation_tokens_total").value;
    now.ttft = page.buckets("tide_time_to_first_token_seconds");
    ++s.ready;
    s.in_flight += running;
    s.waiting += waiting;
    // One engine per replica normally; with several label sets the fullest one decides.
    double kv = 0;
    for (const MetricSample& m : page.samples())
      if (m.name == "tide_kv_cache_usage_ratio") kv = std::max(kv, std::clamp(m.value, 0.0, 1.0));
    kv_sum += kv;

    const auto previous = replicas_.find(url);
    if (previous != replicas_.end() && now_s > previous->second.time_s) {
      const Replica& before = previous->second;
      const double dt = now_s - before.time_s;
      const bool restarted = now.finished < before.finished || now.generated < before.generated;
      const double finished = increase(now.finished, before.finished);
      s.completion_rate += finished / dt;
      s.tokens_per_s += increase(now.generated, before.generated) / dt;
      const double in_system_before = restarted ? 0 : before.in_system;
      arrivals_per_s += std::max(0.0, finished + now.in_system - in_system_before) / dt;
      const Buckets ttft = increase(now.ttft, before.ttft);
      if (!ttft.empty()) {
        ttft_total += ttft.back().second;
        ttft_good += count_at_or_below(ttft, slo_ttft_s_);
      }
    }
    replicas_[url] = std::move(now);
  }
  // Replicas no longer in the pool are forgotten; those merely unreachable keep their state.
  const std::set<std::string> keep(present.begin(), present.end());
  std::erase_if(replicas_, [&](const auto& entry) { return !keep.contains(entry.first); });

  if (s.ready > 0) s.kv_usage = kv_sum / s.ready;
  if (ttft_total > 0) s.slo_attainment = std::clamp(ttft_good / ttft_total, 0.0, 1.0);
  s.arrival_rate = arrivals_per_s;

  if (gateway_page) {
    const MetricsPage page(*gateway_page);
    const std::string_view key = gateway_pool_.empty() ? "" : "pool";
    s.waiting += page.sum("tide_gateway_queue_size", key, gateway_pool_).value;
    const double routed = page.sum("tide_gateway_routed_total", key, gateway_pool_).value;
    if (gateway_routed_ && now_s > gateway_routed_->first)
      s.arrival_rate = increase(routed, gateway_routed_->second) / (now_s - gateway_routed_->first);
    else
      s.arrival_rate = 0;  // no baseline yet: a rate needs two readings
    gateway_routed_ = {now_s, routed};
  }
  return s;
}

ScrapeSource::ScrapeSource(ScrapeOptions options)
    : options_(std::move(options)), aggregator_(options_.slo_ttft_s, options_.gateway_pool) {
  if (!options_.replicas) fail("scrape source: no replica list given");
  if (!options_.gateway_url.empty()) parse_http_base(options_.gateway_url, "signals.scrape.gateway");
}

PoolSample ScrapeSource::sample(double now_s) {
  const std::vector<std::string> replicas = options_.replicas();
  std::vector<std::pair<std::string, std::string>> pages;
  std::string last_error;
  for (const std::string& url : replicas) {
    try {
      pages.emplace_back(url, http_get(parse_http_base(url, "replica"), "/metrics", options_.timeout));
    } catch (const Error& e) {
      spdlog::debug("scrape: replica {} skipped: {}", url, e.what());
      last_error = e.what();
    }
  }
  std::optional<std::string> gateway;
  if (!options_.gateway_url.empty()) {
    try {
      gateway = http_get(parse_http_base(options_.gateway_url, "gateway"), "/metrics", options_.timeout);
    } catch (const Error& e) {
      spdlog::warn("scrape: gateway {} unreachable, arrival rate from the replicas: {}", options_.gateway_url,
                   e.what());
      last_error = e.what();
    }
  }
  if (pages.empty() && !gateway) {
    if (replicas.empty() && options_.gateway_url.empty())
      fail("scrape: the pool has no replicas and no gateway is set");
    fail("scrape: none of {} replica(s){} answered; last error: {}", replicas.size(),
         options_.gateway_url.empty() ? "" : " nor the gateway", last_error);
  }
  return aggregator_.add(now_s, pages, replicas, gateway);
}

}  // namespace tide::autoscaler::signals
