#pragma once
// Samples a pool by scraping /metrics of its replicas (and, optionally, of the gateway in front
// of them) at each tick, with no Prometheus in between. What each PoolSample field comes from
// (metric names as docs/metrics.md lists them):
//
//   ready            replicas whose /metrics answered (starting is left 0: the actuator knows)
//   in_flight        Σ tide_num_requests_running
//   waiting          Σ tide_num_requests_waiting + the gateway's tide_gateway_queue_size{pool}
//   kv_usage         mean over replicas of tide_kv_cache_usage_ratio
//   tokens_per_s     Σ per replica Δ tide_generation_tokens_total / Δt
//   completion_rate  Σ per replica Δ tide_requests_finished_total (all finish reasons) / Δt
//   arrival_rate     the gateway's Δ tide_gateway_routed_total{pool} / Δt (requests the gateway
//                    sent to the pool, held ones included; unlike tide_gateway_requests_total it
//                    names the pool and leaves out /metrics and /health); without a gateway, per
//                    replica Δ finished + Δ (running + waiting), at least 0
//   slo_attainment   Δ tide_time_to_first_token_seconds buckets: the share of first tokens since
//                    the last tick within the SLO, reading the cumulative count at the SLO
//                    linearly between the two bucket bounds around it (observations spread
//                    evenly within a bucket, as histogram_quantile assumes); NaN when none
//
// Deltas are per replica against that replica's own previous scrape, so replicas joining (no
// previous value: they count from their second scrape on), leaving, or missing a tick never
// make a rate jump; a counter lower than before means the replica restarted, and its value
// since the restart is the delta (Prometheus's rate() does the same).
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autoscaler/signal_source.h"

namespace tide::autoscaler::signals {

using Buckets = std::vector<std::pair<double, double>>;  // (upper bound, cumulative count), +Inf last

// Observations at or below `bound` in cumulative `buckets`, interpolated linearly inside the
// bucket that holds `bound` (the first bucket's lower bound is 0). Above the last finite bound
// it is that bound's count: what lies beyond is not known to be within.
double count_at_or_below(const Buckets& buckets, double bound);

// The state across ticks, fed pages already fetched: the part of ScrapeSource that is pure.
class ScrapeAggregator {
 public:
  // `gateway_pool`: the gateway pool whose series count; empty sums every pool.
  ScrapeAggregator(double slo_ttft_s, std::string gateway_pool);

  // `replica_pages`: (base URL, /metrics text) of the replicas that answered now; `present`:
  // every replica the pool has now (answered or not), so state of replicas gone is dropped.
  PoolSample add(double now_s, const std::vector<std::pair<std::string, std::string>>& replica_pages,
                 const std::vector<std::string>& present, const std::optional<std::string>& gateway_page);

 private:
  struct Replica {
    double time_s = 0;
    double finished = 0;
    double generated = 0;
    double in_system = 0;  // running + waiting
    Buckets ttft;
  };
  double slo_ttft_s_;
  std::string gateway_pool_;
  std::map<std::string, Replica> replicas_;
  std::optional<std::pair<double, double>> gateway_routed_;  // (time, counter)
};

struct ScrapeOptions {
  // The pool's replicas now, as base URLs ("http://10.0.0.7:8000"); asked at every tick.
  std::function<std::vector<std::string>()> replicas;
  std::string gateway_url;   // the gateway's base URL; empty: no gateway
  std::string gateway_pool;  // its pool for these replicas; empty: all pools
  double slo_ttft_s = 1.0;
  std::chrono::milliseconds timeout{2'000};  // per scrape
};

class ScrapeSource : public SignalSource {
 public:
  explicit ScrapeSource(ScrapeOptions options);
  // Scrapes every replica in turn (unreachable ones are skipped, logged at debug level) and the
  // gateway. Throws tide::Error when neither a replica nor the gateway answered.
  PoolSample sample(double now_s) override;

 private:
  ScrapeOptions options_;
  ScrapeAggregator aggregator_;
};

}  // namespace tide::autoscaler::signals
