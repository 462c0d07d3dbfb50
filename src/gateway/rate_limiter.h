#pragma once
// Rate limits keyed by API key, user, model or a combination (LimitRule::key): each rule gives
// every distinct key value its own request bucket (requests_per_second, burst) and token
// bucket (tokens_per_minute, token_burst). A request must pass every rule; it is admitted
// all-or-nothing, so a request refused by one bucket costs nothing in the others.
//
// Tokens are debited up front from an estimate (estimate_tokens: prompt chars / 4 + max_tokens)
// because the real count is known only when generation ends; correct() settles the
// difference with the usage the replica reports.
//
// Bucket state lives behind LimiterBackend: LocalLimiterBackend keeps it in this process; a
// Redis backend (shared by several gateways) implements the same two calls.
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/token_bucket.h"

namespace tide::gateway {

struct BucketRequest {
  std::string key;
  BucketSpec spec;
  double cost = 0;
};

struct BackendDecision {
  bool allowed = true;
  double retry_after_s = 0;  // the longest wait among the refusing buckets
  std::size_t denied = 0;    // index into the requests of the first refusing bucket
};

// Bucket storage. Implementations are thread-safe. A backend that cannot answer (Redis down)
// throws tide::Error; RateLimiter then applies the configured fail_open.
class LimiterBackend {
 public:
  virtual ~LimiterBackend() = default;
  // Atomically: if every bucket can take its cost, takes them all; otherwise takes none.
  virtual BackendDecision acquire(std::span<const BucketRequest> requests, Clock::time_point now) = 0;
  // Takes `delta` more from a bucket without a check; a negative delta refunds.
  virtual void adjust(const BucketRequest& request, Clock::time_point now) = 0;
};

// Buckets in a hash map with an LRU list. Memory is bounded by max_buckets: idle buckets that
// have refilled to full are dropped as they reach the LRU tail (a full bucket and a fresh one
// are the same), and beyond max_buckets the least recently used is dropped even if not full
// (which forgives its debt: the bound wins over exactness under a flood of distinct keys).
class LocalLimiterBackend : public LimiterBackend {
 public:
  explicit LocalLimiterBackend(std::size_t max_buckets = 100'000);
  BackendDecision acquire(std::span<const BucketRequest> requests, Clock::time_point now) override;
  void adjust(const BucketRequest& request, Clock::time_point now) override;
  std::size_t size() const;

 private:
  struct Entry {
    TokenBucket bucket;
    std::list<std::string>::iterator lru;
  };
  TokenBucket& bucket(const BucketRequest& request, Clock::time_point now);
  void evict(Clock::time_point now);

  std::size_t max_buckets_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> buckets_;
  std::list<std::string> lru_;  // most recently used first
};

// The attributes rules are keyed by. api_key_id is the key's fingerprint, never the key.
struct RequestIdentity {
  std::string_view api_key_id{};
  std::string_view user{};
  std::string_view model{};
};

// Per-API-key replacements for the rules keyed by api_key (api_keys.h loads them).
struct LimitOverride {
  std::optional<double> requests_per_second{};
  std::optional<double> burst{};
  std::optional<double> tokens_per_minute{};
  std::optional<double> token_burst{};
  bool operator==(const LimitOverride&) const = default;
};

struct LimitDecision {
  bool allowed = true;
  double retry_after_s = 0;  // for a Retry-After header (round up)
  int rule = -1;             // index of the refusing rule in the config's limits
};

// What admit() debited, to be settled by correct().
struct Admission {
  LimitDecision decision;
  std::vector<BucketRequest> token_debits;
};

// The up-front token estimate: about four characters per token for the prompt, plus all of
// max_tokens (the most the request may generate).
double estimate_tokens(std::size_t prompt_chars, uint64_t max_tokens);

class RateLimiter {
 public:
  // fail_open: when the backend throws, admit (true) or refuse (false) the request.
  RateLimiter(std::vector<LimitRule> rules, std::shared_ptr<LimiterBackend> backend, bool fail_open = true);

  // Thread-safe. key_override applies to the rules whose key includes api_key.
  Admission admit(const RequestIdentity& who, double estimated_tokens, Clock::time_point now,
                  const LimitOverride* key_override = nullptr) const;
  // Settles an admitted request: debits actual - estimated (refunds when negative).
  void correct(const Admission& admission, double actual_tokens, Clock::time_point now) const;

  // The bucket key of one rule for one identity; `kind` is 'q' (requests) or 't' (tokens).
  // Values are length-prefixed so no user string can forge another key.
  static std::string bucket_key(std::size_t rule, const LimitKey& key, const RequestIdentity& who, char kind);

 private:
  std::vector<LimitRule> rules_;
  std::shared_ptr<LimiterBackend> backend_;
  bool fail_open_;
};

}  // namespace tide::gateway
