#include "gateway/rate_limiter.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
const Clock::time_point t0{};

TEST(TokenBucket, StartsFullRefillsAtRateAndCapsAtBurst) {
  TokenBucket b({.rate = 2, .burst = 4}, t0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(b.try_take(1, t0));
  EXPECT_FALSE(b.try_take(1, t0));
  EXPECT_DOUBLE_EQ(b.retry_after(1, t0), 0.5);
  EXPECT_FALSE(b.try_take(1, t0 + 499ms));
  EXPECT_TRUE(b.try_take(1, t0 + 500ms));
  EXPECT_DOUBLE_EQ(b.tokens(t0 + 1h), 4);  // capped at burst
  EXPECT_TRUE(b.full(t0 + 1h));
}

TEST(TokenBucket, CostAboveBurstWaitsForAFullBucketThenRunsIntoDebt) {
  TokenBucket b({.rate = 10, .burst = 100}, t0);
  EXPECT_TRUE(b.try_take(250, t0));  // full bucket: admitted, 150 in debt
  EXPECT_DOUBLE_EQ(b.tokens(t0), -150);
  EXPECT_FALSE(b.can_take(1, t0 + 10s));
  EXPECT_DOUBLE_EQ(b.retry_after(250, t0 + 10s), 15.0);  // back to full (100) from -50 at 10/s
  EXPECT_TRUE(b.can_take(250, t0 + 25s));
}

TEST(TokenBucket, RefundsNeverExceedBurstAndBackwardsTimeIsIgnored) {
  TokenBucket b({.rate = 1, .burst = 10}, t0 + 10s);
  b.take(5, t0 + 10s);
  b.take(-100, t0 + 10s);
  EXPECT_DOUBLE_EQ(b.tokens(t0 + 10s), 10);
  b.take(10, t0 + 10s);
  EXPECT_DOUBLE_EQ(b.tokens(t0), 0);  // an earlier time point refills nothing
  EXPECT_THROW(TokenBucket({.rate = 0, .burst = 1}, t0), Error);
  EXPECT_THROW(TokenBucket({.rate = 1, .burst = -1}, t0), Error);
}

TEST(LocalLimiterBackend, AllOrNothingAcrossBuckets) {
  LocalLimiterBackend backend;
  const std::vector<BucketRequest> both = {{"a", {1, 5}, 1}, {"b", {1, 1}, 1}};
  EXPECT_TRUE(backend.acquire(both, t0).allowed);
  const BackendDecision d = backend.acquire(both, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.denied, 1u);
  EXPECT_DOUBLE_EQ(d.retry_after_s, 1.0);
  // "a" kept the token the refused request did not get: 4 left.
  const std::vector<BucketRequest> a = {{"a", {1, 5}, 4}};
  EXPECT_TRUE(backend.acquire(a, t0).allowed);
}

TEST(LocalLimiterBackend, MemoryIsBoundedAndFullIdleBucketsAreEvicted) {
  LocalLimiterBackend backend(100);
  for (int i = 0; i < 1000; ++i) {
    const std::vector<BucketRequest> r = {{fmt::format("k{}", i), {1, 1}, 1}};
    backend.acquire(r, t0);
  }
  EXPECT_EQ(backend.size(), 100u);
  // Once refilled, each access drops idle full buckets from the tail.
  for (int i = 0; i < 60; ++i) {
    const std::vector<BucketRequest> r = {{"hot", {1, 1}, 0}};
    backend.acquire(r, t0 + 10s);
  }
  EXPECT_LT(backend.size(), 10u);
}

TEST(RateLimiter, KeysPerRuleSeparateApiKeysUsersAndModels) {
  RateLimiter limiter({{.key = {.api_key = true, .model = true}, .requests_per_second = 1}},
                      std::make_shared<LocalLimiterBackend>());
  EXPECT_TRUE(limiter.admit({"k1", "u", "m1"}, 0, t0).decision.allowed);
  EXPECT_FALSE(limiter.admit({"k1", "other-user", "m1"}, 0, t0).decision.allowed);  // user not in key
  EXPECT_TRUE(limiter.admit({"k1", "u", "m2"}, 0, t0).decision.allowed);
  EXPECT_TRUE(limiter.admit({"k2", "u", "m1"}, 0, t0).decision.allowed);
  const LimitDecision d = limiter.admit({"k1", "u", "m1"}, 0, t0 + 250ms).decision;
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, 0);
  EXPECT_DOUBLE_EQ(d.retry_after_s, 0.75);
  EXPECT_TRUE(limiter.admit({"k1", "u", "m1"}, 0, t0 + 1s).decision.allowed);
}

TEST(RateLimiter, BucketKeysCannotBeForged) {
  const LimitKey ku{.api_key = true, .user = true};
  EXPECT_NE(RateLimiter::bucket_key(0, ku, {"a", "1b", ""}, 'q'), RateLimiter::bucket_key(0, ku, {"a1", "b", ""}, 'q'));
  EXPECT_NE(RateLimiter::bucket_key(0, ku, {"a", "b", ""}, 'q'), RateLimiter::bucket_key(1, ku, {"a", "b", ""}, 'q'));
  EXPECT_NE(RateLimiter::bucket_key(0, ku, {"a", "b", ""}, 'q'), RateLimiter::bucket_key(0, ku, {"a", "b", ""}, 't'));
}

TEST(RateLimiter, TokensPerMinuteDebitsTheEstimateAndCorrectSettlesIt) {
  EXPECT_DOUBLE_EQ(estimate_tokens(400, 100), 200);
  RateLimiter limiter({{.key = {.user = true}, .tokens_per_minute = 600}}, std::make_shared<LocalLimiterBackend>());
  Admission a = limiter.admit({"", "u", ""}, 500, t0);
  ASSERT_TRUE(a.decision.allowed);
  ASSERT_EQ(a.token_debits.size(), 1u);
  // Only 100 tokens left: a 200-token request waits (600/min = 10/s → 10 s).
  LimitDecision refused = limiter.admit({"", "u", ""}, 200, t0).decision;
  EXPECT_FALSE(refused.allowed);
  EXPECT_DOUBLE_EQ(refused.retry_after_s, 10.0);
  // The request really used 50 tokens: 450 come back.
  limiter.correct(a, 50, t0);
  EXPECT_TRUE(limiter.admit({"", "u", ""}, 500, t0).decision.allowed);
  // An underestimate is debited, driving the bucket into debt.
  Admission b = limiter.admit({"", "v", ""}, 10, t0);
  limiter.correct(b, 1210, t0);
  EXPECT_DOUBLE_EQ(limiter.admit({"", "v", ""}, 1, t0).decision.retry_after_s, 61.1);  // 1 token from -610
}

TEST(RateLimiter, ARequestRefusedByOneRuleCostsNothingInTheOthers) {
  RateLimiter limiter({{.key = {.user = true}, .requests_per_second = 1, .burst = 3},
                       {.key = {.model = true}, .requests_per_second = 1, .burst = 1}},
                      std::make_shared<LocalLimiterBackend>());
  EXPECT_TRUE(limiter.admit({"", "u", "m"}, 0, t0).decision.allowed);
  EXPECT_EQ(limiter.admit({"", "u", "m"}, 0, t0).decision.rule, 1);
  EXPECT_EQ(limiter.admit({"", "u", "m"}, 0, t0).decision.rule, 1);
  // The user's bucket still holds two requests.
  EXPECT_TRUE(limiter.admit({"", "u", "m2"}, 0, t0).decision.allowed);
  EXPECT_TRUE(limiter.admit({"", "u", "m3"}, 0, t0).decision.allowed);
  EXPECT_EQ(limiter.admit({"", "u", "m4"}, 0, t0).decision.rule, 0);
}

TEST(RateLimiter, KeyOverridesApplyOnlyToApiKeyRules) {
  RateLimiter limiter({{.key = {.api_key = true}, .requests_per_second = 1},
                       {.key = {.user = true}, .requests_per_second = 100}},
                      std::make_shared<LocalLimiterBackend>());
  LimitOverride vip;
  vip.requests_per_second = 50.0;
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(limiter.admit({"vip", "u", ""}, 0, t0, &vip).decision.allowed) << i;
  EXPECT_FALSE(limiter.admit({"vip", "u", ""}, 0, t0, &vip).decision.allowed);
  EXPECT_TRUE(limiter.admit({"plain", "w", ""}, 0, t0).decision.allowed);
  EXPECT_FALSE(limiter.admit({"plain", "w", ""}, 0, t0).decision.allowed);
}

class BrokenBackend : public LimiterBackend {
 public:
  BackendDecision acquire(std::span<const BucketRequest>, Clock::time_point) override { fail("redis: timeout"); }
  void adjust(const BucketRequest&, Clock::time_point) override { fail("redis: timeout"); }
};

TEST(RateLimiter, BackendFailureFollowsFailOpen) {
  const std::vector<LimitRule> rules = {{.key = {.user = true}, .requests_per_second = 1, .tokens_per_minute = 60}};
  const RateLimiter open(rules, std::make_shared<BrokenBackend>(), true);
  const Admission a = open.admit({"", "u", ""}, 10, t0);
  EXPECT_TRUE(a.decision.allowed);
  EXPECT_TRUE(a.token_debits.empty());
  open.correct(a, 100, t0);  // nothing to settle, nothing thrown
  const RateLimiter closed(rules, std::make_shared<BrokenBackend>(), false);
  EXPECT_FALSE(closed.admit({"", "u", ""}, 10, t0).decision.allowed);
}

}  // namespace
}  // namespace tide::gateway
