#pragma once
// A token bucket: `rate` tokens per second refill up to `burst`. Time is passed in (a
// steady_clock time_point) so tests are deterministic and one clock read serves a whole
// request.
//
// A cost larger than the burst is admitted when the bucket is full and drives it into debt
// (negative tokens) that refill repays: a 30k-token prompt against a 20k tokens-per-minute
// bucket waits for a full bucket instead of being refused forever. Usage corrections use the
// same debt, so an underestimate is paid back by the next requests.
#include <chrono>

namespace tide::gateway {

using Clock = std::chrono::steady_clock;

struct BucketSpec {
  double rate = 0;   // tokens per second, > 0
  double burst = 0;  // capacity, > 0
  bool operator==(const BucketSpec&) const = default;
};

class TokenBucket {
 public:
  TokenBucket(BucketSpec spec, Clock::time_point now);

  // Whether `cost` could be taken now; takes nothing.
  bool can_take(double cost, Clock::time_point now);
  // Takes `cost` unconditionally (call after can_take, or to debit a correction).
  void take(double cost, Clock::time_point now);
  // Takes `cost` if can_take; returns whether it did.
  bool try_take(double cost, Clock::time_point now);
  // Seconds until can_take(cost) becomes true; 0 when it already is.
  double retry_after(double cost, Clock::time_point now);

  double tokens(Clock::time_point now);
  // Full and therefore indistinguishable from a fresh bucket: safe to evict.
  bool full(Clock::time_point now) { return tokens(now) >= spec_.burst; }
  const BucketSpec& spec() const { return spec_; }
  // A changed spec (a reloaded config or a key's override) keeps the current level, clamped.
  void set_spec(BucketSpec spec, Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  BucketSpec spec_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace tide::gateway
