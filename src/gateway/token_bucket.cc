#include "gateway/token_bucket.h"

#include <algorithm>

#include "common/error.h"

namespace tide::gateway {

TokenBucket::TokenBucket(BucketSpec spec, Clock::time_point now) : spec_(spec), tokens_(spec.burst), last_(now) {
  if (!(spec.rate > 0) || !(spec.burst > 0)) fail("token bucket: rate and burst must be above 0");
}

void TokenBucket::refill(Clock::time_point now) {
  // A clock that appears to go backwards (time points from two threads) refills nothing.
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(spec_.burst, tokens_ + seconds * spec_.rate);
  last_ = now;
}

bool TokenBucket::can_take(double cost, Clock::time_point now) {
  refill(now);
  return tokens_ >= std::min(cost, spec_.burst);
}

void TokenBucket::take(double cost, Clock::time_point now) {
  refill(now);
  tokens_ = std::min(spec_.burst, tokens_ - cost);  // a negative cost is a refund
}

bool TokenBucket::try_take(double cost, Clock::time_point now) {
  if (!can_take(cost, now)) return false;
  take(cost, now);
  return true;
}

double TokenBucket::retry_after(double cost, Clock::time_point now) {
  refill(now);
  const double missing = std::min(cost, spec_.burst) - tokens_;
  return missing <= 0 ? 0.0 : missing / spec_.rate;
}

double TokenBucket::tokens(Clock::time_point now) {
  refill(now);
  return tokens_;
}

void TokenBucket::set_spec(BucketSpec spec, Clock::time_point now) {
  if (!(spec.rate > 0) || !(spec.burst > 0)) fail("token bucket: rate and burst must be above 0");
  refill(now);
  spec_ = spec;
  tokens_ = std::min(tokens_, spec_.burst);
}

}  // namespace tide::gateway
