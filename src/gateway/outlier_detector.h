#pragma once
// Outlier detection (passive health) and readiness (active health) for one pool's endpoints.
//
// An endpoint is ejected — given no new requests — when either trigger fires:
// - consecutive_failures failures in a row, or
// - over the sliding `window`, at least min_requests requests of which more than error_rate
//   failed.
// A failure is a 5xx, a connect error or a timeout. An upstream 429 is Outcome::Overloaded:
// a "try elsewhere" signal that is neither a success nor a failure (it counts toward nothing
// and resets nothing).
//
// The n-th ejection lasts base_ejection_time × n, capped at max_ejection_time; n decays by one
// for every base_ejection_time the endpoint then stays un-ejected. An ejection ends by itself
// when its time passes (the endpoint is back with a clean slate). At most max_ejection_percent
// of the pool is ejected at once, except that one endpoint may always be ejected (Envoy's rule:
// otherwise a two-endpoint pool with the 50% default could never eject a broken one).
//
// Readiness comes from the health checker polling /ready: an endpoint reporting not ready
// (draining) gets no new requests but is not failed: no ejection, no counters touched.
//
// Time is passed in. Thread-safe (one mutex; every call is O(1) but health()).
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/pool_health.h"
#include "gateway/token_bucket.h"

namespace tide::gateway {

enum class Outcome { Success, Failure, Overloaded };

struct EndpointState {
  bool known = false;
  bool ready = true;
  bool ejected = false;
  uint32_t times_ejected = 0;
  Clock::time_point ejected_until{};
};

class OutlierDetector {
 public:
  explicit OutlierDetector(OutlierConfig config);

  // The pool's endpoints from discovery. New ones start ready and un-ejected; those no longer
  // listed are forgotten. Calls about unknown endpoints are ignored.
  void set_endpoints(std::span<const std::string> ids);
  void record(std::string_view id, Outcome outcome, Clock::time_point now);
  void set_ready(std::string_view id, bool ready);

  // Known, ready and not ejected: may be offered to the balancer.
  bool eligible(std::string_view id, Clock::time_point now);
  EndpointState state(std::string_view id, Clock::time_point now);
  PoolHealth health(Clock::time_point now);

 private:
  struct Bucket {
    int64_t slot = -1;
    uint32_t requests = 0;
    uint32_t failures = 0;
  };
  struct Endpoint {
    bool ready = true;
    bool ejected = false;
    uint32_t consecutive = 0;
    uint32_t times_ejected = 0;
    Clock::time_point ejected_until{};
    Clock::time_point unejected_at{};
    std::vector<Bucket> window;
  };
  static constexpr int64_t kBuckets = 10;

  void expire(Endpoint& e, Clock::time_point now);
  void count(Endpoint& e, bool failed, Clock::time_point now);
  bool over_error_rate(const Endpoint& e, Clock::time_point now) const;
  void maybe_eject(Endpoint& e, Clock::time_point now);
  int64_t slot(Clock::time_point now) const;

  OutlierConfig config_;
  std::mutex mutex_;
  std::map<std::string, Endpoint, std::less<>> endpoints_;
};

}  // namespace tide::gateway
