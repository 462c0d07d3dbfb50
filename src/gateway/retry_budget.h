#pragma once
// A retry budget (Finagle's RetryBudget, Envoy's retry_budget): retries are allowed while the
// retries of the last `budget_window` stay within budget_ratio × the requests of that window
// plus min_per_second × the window's seconds. A healthy pool with a few failures retries
// them all; a pool failing everything gets at most ratio more load, not (1 + max_retries)×,
// so retries cannot turn an overload into a collapse. min_per_second lets a quiet pool retry.
//
// max_retries per request is the proxy's own loop bound (RetryConfig::max_retries); the
// budget is shared by all requests to the pool. Time is passed in. Thread-safe.
#include <mutex>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/token_bucket.h"

namespace tide::gateway {

class RetryBudget {
 public:
  explicit RetryBudget(RetryConfig config);

  // Every first attempt (not retries) deposits into the budget.
  void on_request(Clock::time_point now);
  // Takes one retry from the budget if there is one; false means fail the request instead.
  bool try_retry(Clock::time_point now);
  // Whether attempt number `attempt` (1 = the first retry) is within max_retries.
  bool within_max_retries(uint32_t attempt) const { return attempt <= config_.max_retries; }

 private:
  struct Bucket {
    int64_t slot = -1;
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  static constexpr int64_t kBuckets = 10;
  Bucket& current(Clock::time_point now);

  RetryConfig config_;
  std::mutex mutex_;
  std::vector<Bucket> window_;
};

}  // namespace tide::gateway
