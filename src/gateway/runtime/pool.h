#pragma once
// One pool of replicas at run time: the endpoints discovery found, what the gateway knows of
// each (requests in flight from here, load the replica reported, an EWMA of its time to first
// byte, readiness and ejection), and the pool's policies (balancer, outlier detector, retry
// budget) applied to that state. Thread-safe; every io thread picks from it.
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/balancer.h"
#include "gateway/gateway_config.h"
#include "gateway/outlier_detector.h"
#include "gateway/proxy/endpoint.h"
#include "gateway/retry_budget.h"

namespace tide {
class MetricsRegistry;
class Counter;
class Gauge;
class Histogram;
}  // namespace tide

namespace tide::gateway {

// What a replica's /metrics said last (gateway/replica_metrics.h reads it).
struct ScrapedLoad {
  uint32_t running = 0;
  uint32_t waiting = 0;
  double kv_usage = 0;
};

struct PoolMetrics;

class Pool {
 public:
  Pool(PoolConfig config, MetricsRegistry& metrics);
  ~Pool();

  const PoolConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }

  // Discovery's current list (addresses, resolved). Endpoints that stay keep their state.
  void set_endpoints(const std::vector<HostPort>& addresses);
  std::vector<Endpoint> endpoints() const;
  // From the health checker and the metrics scrape.
  void set_ready(const std::string& address, bool ready);
  void set_load(const std::string& address, const ScrapedLoad& load);

  // An eligible endpoint not in `tried`; nullopt when none is left.
  std::optional<Endpoint> pick(const RequestTraits& request, std::span<const std::string> tried);
  void on_request();  // a first attempt: feeds the retry budget
  void on_attempt_start(const Endpoint& endpoint);
  void on_attempt_end(const Endpoint& endpoint, const AttemptOutcome& outcome);
  // Attempt number `attempts` + 1 may be made: within max_retries and the pool's retry budget.
  bool may_retry(int attempts);

  PoolHealth health();
  // Sets the pool's endpoint gauges; called by the health checker, not per request.
  void publish_health();

 private:
  // The endpoint's metric children, found once when it joins rather than by label per request.
  struct MemberMetrics {
    Gauge* in_flight;
    Histogram* latency;
    Histogram* first_byte;
    std::array<Counter*, 5> attempts;  // by AttemptOutcome::Kind
  };
  struct Member {
    HostPort address;
    std::string id;
    std::atomic<uint32_t> in_flight{0};
    ScrapedLoad load;
    double ewma_ms = 0;
    MemberMetrics metrics;
  };
  std::shared_ptr<Member> find(const std::string& id) const;
  MemberMetrics metrics_for(const std::string& id) const;

  const PoolConfig config_;
  std::unique_ptr<Balancer> balancer_;
  OutlierDetector outliers_;
  RetryBudget retries_;
  std::unique_ptr<PoolMetrics> metrics_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Member>> members_;
};

// The UpstreamSelector of one request: the pools it may be served by, in order (the routed
// pool, then its backups); non-empty.
std::shared_ptr<UpstreamSelector> select_from(std::vector<std::shared_ptr<Pool>> chain);

}  // namespace tide::gateway
