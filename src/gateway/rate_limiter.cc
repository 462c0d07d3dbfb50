#include "gateway/rate_limiter.h"

#include <algorithm>

#include "common/error.h"

namespace tide::gateway {

LocalLimiterBackend::LocalLimiterBackend(std::size_t max_buckets) : max_buckets_(std::max<std::size_t>(1, max_buckets)) {}

TokenBucket& LocalLimiterBackend::bucket(const BucketRequest& request, Clock::time_point now) {
  auto it = buckets_.find(request.key);
  if (it == buckets_.end()) {
    lru_.push_front(request.key);
    it = buckets_.emplace(request.key, Entry{TokenBucket(request.spec, now), lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    if (it->second.bucket.spec() != request.spec) it->second.bucket.set_spec(request.spec, now);
  }
  return it->second.bucket;
}

void LocalLimiterBackend::evict(Clock::time_point now) {
  // Constant work per call: at most two full buckets from the tail, then the hard bound.
  for (int i = 0; i < 2 && !lru_.empty(); ++i) {
    auto it = buckets_.find(lru_.back());
    if (!it->second.bucket.full(now)) break;
    buckets_.erase(it);
    lru_.pop_back();
  }
  while (buckets_.size() > max_buckets_) {
    buckets_.erase(lru_.back());
    lru_.pop_back();
  }
}

BackendDecision LocalLimiterBackend::acquire(std::span<const BucketRequest> requests, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::vector<TokenBucket*> found;
  found.reserve(requests.size());
  for (const auto& r : requests) found.push_back(&bucket(r, now));
  BackendDecision decision;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (found[i]->can_take(requests[i].cost, now)) continue;
    if (decision.allowed) decision.denied = i;
    decision.allowed = false;
    decision.retry_after_s = std::max(decision.retry_after_s, found[i]->retry_after(requests[i].cost, now));
  }
  if (decision.allowed)
    for (std::size_t i = 0; i < requests.size(); ++i) found[i]->take(requests[i].cost, now);
  // Evict only after the pointers above are no longer needed.
  evict(now);
  return decision;
}

void LocalLimiterBackend::adjust(const BucketRequest& request, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  bucket(request, now).take(request.cost, now);
  evict(now);
}

std::size_t LocalLimiterBackend::size() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

double estimate_tokens(std::size_t prompt_chars, uint64_t max_tokens) {
  return static_cast<double>(prompt_chars / 4) + static_cast<double>(max_tokens);
}

RateLimiter::RateLimiter(std::vector<LimitRule> rules, std::shared_ptr<LimiterBackend> backend, bool fail_open)
    : rules_(std::move(rules)), backend_(std::move(backend)), fail_open_(fail_open) {
  if (!backend_) fail("rate limiter: no backend");
}

std::string RateLimiter::bucket_key(std::size_t rule, const LimitKey& key, const RequestIdentity& who, char kind) {
  std::string out = std::to_string(rule);
  out += kind;
  const auto part = [&](bool on, char tag, std::string_view value) {
    if (!on) return;
    out += tag;
    out += std::to_string(value.size());
    out += ':';
    out += value;
  };
  part(key.api_key, 'k', who.api_key_id);
  part(key.user, 'u', who.user);
  part(key.model, 'm', who.model);
  return out;
}

Admission RateLimiter::admit(const RequestIdentity& who, double estimated_tokens, Clock::time_point now,
                             const LimitOverride* key_override) const {
  Admission out;
  std::vector<BucketRequest> requests;
  std::vector<int> rule_of;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    LimitRule rule = rules_[i];
    if (key_override && rule.key.api_key) {
      rule.requests_per_second = key_override->requests_per_second.value_or(rule.requests_per_second);
      rule.burst = key_override->burst.value_or(rule.burst);
      rule.tokens_per_minute = key_override->tokens_per_minute.value_or(rule.tokens_per_minute);
      rule.token_burst = key_override->token_burst.value_or(rule.token_burst);
    }
    if (rule.requests_per_second > 0) {
      const double burst = rule.burst > 0 ? rule.burst : std::max(1.0, rule.requests_per_second);
      requests.push_back({bucket_key(i, rule.key, who, 'q'), {rule.requests_per_second, burst}, 1.0});
      rule_of.push_back(static_cast<int>(i));
    }
    if (rule.tokens_per_minute > 0) {
      const double burst = rule.token_burst > 0 ? rule.token_burst : rule.tokens_per_minute;
      requests.push_back({bucket_key(i, rule.key, who, 't'), {rule.tokens_per_minute / 60.0, burst}, estimated_tokens});
      rule_of.push_back(static_cast<int>(i));
      out.token_debits.push_back(requests.back());
    }
  }
  if (requests.empty()) return out;
  bool debited = false;
  try {
    const BackendDecision d = backend_->acquire(requests, now);
    out.decision = {d.allowed, d.retry_after_s, d.allowed ? -1 : rule_of[d.denied]};
    debited = d.allowed;
  } catch (const Error&) {
    out.decision.allowed = fail_open_;
  }
  // Only a debited request has anything to settle; a refused or fail-open one has not.
  if (!debited) out.token_debits.clear();
  return out;
}

void RateLimiter::correct(const Admission& admission, double actual_tokens, Clock::time_point now) const {
  for (BucketRequest debit : admission.token_debits) {
    debit.cost = actual_tokens - debit.cost;
    if (debit.cost == 0) continue;
    try {
      backend_->adjust(debit, now);
    } catch (const Error&) {
      // A lost correction only makes the limit a little loose or tight for one window.
    }
  }
}

}  // namespace tide::gateway
