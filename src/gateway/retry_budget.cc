#include "gateway/retry_budget.h"

#include <algorithm>

namespace tide::gateway {

RetryBudget::RetryBudget(RetryConfig config) : config_(config), window_(kBuckets) {}

RetryBudget::Bucket& RetryBudget::current(Clock::time_point now) {
  const int64_t bucket_ms = std::max<int64_t>(1, config_.budget_window.count() / kBuckets);
  const int64_t s = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() / bucket_ms;
  Bucket& b = window_[static_cast<std::size_t>(s % kBuckets)];
  if (b.slot != s) b = {s, 0, 0};
  return b;
}

void RetryBudget::on_request(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  ++current(now).requests;
}

bool RetryBudget::try_retry(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Bucket& now_bucket = current(now);
  uint64_t requests = 0, retries = 0;
  for (const Bucket& b : window_)
    if (b.slot > now_bucket.slot - kBuckets && b.slot <= now_bucket.slot) requests += b.requests, retries += b.retries;
  const double seconds = std::chrono::duration<double>(config_.budget_window).count();
  const double allowed = config_.budget_ratio * static_cast<double>(requests) + config_.min_per_second * seconds;
  if (static_cast<double>(retries + 1) > allowed) return false;
  ++now_bucket.retries;
  return true;
}

}  // namespace tide::gateway
