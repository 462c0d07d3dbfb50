#pragma once
// Token buckets in Redis, shared by every gateway that points at the same server and
// key_prefix: the limits then hold across gateways, not per gateway.
//
// One Lua script does a whole acquire (read every bucket, refill, check, take all or none,
// write back with a TTL) so it is atomic with respect to every other gateway; adjust runs the
// same script without the check. It is sent with EVALSHA and, when the server answers NOSCRIPT
// (a restarted or flushed Redis), once more with EVAL, which also caches it again.
//
// Time is the Redis server's clock (TIME inside the script), not the `now` callers pass: that
// is a steady_clock time_point, whose epoch is private to each process (boot time), so two
// gateways' values cannot be compared, and even wall clocks of different hosts drift apart.
// With one clock, refill is exact whoever touches a bucket. (Redis 5+ replicates a script's
// effects, so reading TIME before writes is allowed.) A single Redis, not Redis Cluster: the
// buckets of one request are keys of one script, which Cluster would need in one slot.
//
// A bucket key lives until its bucket would have refilled to full (PEXPIRE), because a full
// bucket and a missing key mean the same: idle buckets cost Redis nothing, and debt is kept.
//
// Failure: every Redis call is bounded by connect_timeout and timeout. A failed call (refused,
// timed out, I/O error) throws tide::Error, for RateLimiter's fail_open to decide, and puts the
// backend into back-off: until it ends, calls throw at once without touching the network, so a
// dead or stalled Redis costs requests nothing beyond the first timeout. When it ends, one call
// probes; failure doubles the back-off (up to reconnect_backoff_max), success clears it. The
// failure is logged once per back-off period, not per request; errors() counts every failed call
// (the gateway exports it as tide_gateway_limiter_backend_errors_total).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/rate_limiter.h"

struct redisContext;

namespace tide::gateway {

class RedisLimiterBackend : public LimiterBackend {
 public:
  // config.address must be host:port (fails otherwise). Connects lazily: constructing never
  // blocks and never fails because Redis is down.
  explicit RedisLimiterBackend(const RedisConfig& config);
  ~RedisLimiterBackend() override;
  RedisLimiterBackend(const RedisLimiterBackend&) = delete;
  RedisLimiterBackend& operator=(const RedisLimiterBackend&) = delete;

  // `now` is ignored: the Redis server's clock is used (see above).
  BackendDecision acquire(std::span<const BucketRequest> requests, Clock::time_point now) override;
  void adjust(const BucketRequest& request, Clock::time_point now) override;

  // Calls that failed (each of them was decided by fail_open), since construction.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  // False while in back-off after a failure.
  bool available() const;

  // The Redis key of a bucket: key_prefix + RateLimiter::bucket_key(...).
  std::string redis_key(std::string_view bucket_key) const { return config_.key_prefix + std::string(bucket_key); }

 private:
  using Steady = std::chrono::steady_clock;
  struct ScriptResult {
    bool allowed = false;
    long long denied = -1;
    double retry_after_s = 0;
  };

  ScriptResult run_script(std::span<const BucketRequest> requests, bool check);
  // A connected context from the pool, or throws (back-off, pool exhausted, connect failure).
  // `probe`: this call tests whether Redis is back after a back-off period; `reused`: the
  // context comes from the pool rather than a new connection.
  redisContext* take_context(bool& probe, bool& reused);
  // Frees a pooled context found closed, and the other idle ones, without a back-off.
  void discard_idle(redisContext* stale);
  // Returns a context that got an answer; a successful probe ends the back-off.
  void give_back(redisContext* context, bool probe);
  // Counts a failed call, frees `broken` (may be null) and the idle contexts, starts or
  // lengthens the back-off and throws.
  [[noreturn]] void failed(redisContext* broken, bool probe, const std::string& why);

  RedisConfig config_;
  HostPort address_;

  mutable std::mutex mutex_;
  std::condition_variable context_freed_;
  std::vector<redisContext*> idle_;  // connected, not in use
  uint32_t open_ = 0;                // contexts in idle_ or in use
  Steady::time_point retry_at_{};    // back-off: no Redis call before this
  Steady::duration backoff_{};       // the current back-off; zero while healthy
  bool probing_ = false;             // one call is testing whether Redis is back
  std::string sha_;                  // the script's SHA1, from the first SCRIPT LOAD
  std::atomic<uint64_t> errors_{0};
};

}  // namespace tide::gateway
