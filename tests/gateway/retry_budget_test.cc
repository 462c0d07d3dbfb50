#include "gateway/retry_budget.h"

#include <gtest/gtest.h>

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
const Clock::time_point t0 = Clock::time_point{} + 1h;

TEST(RetryBudget, RatioOfRequestsPlusAMinimumPerSecond) {
  RetryBudget b({.max_retries = 2, .budget_ratio = 0.1, .min_per_second = 1, .budget_window = 10s});
  // No traffic: the minimum alone, 1/s × 10 s.
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += b.try_retry(t0);
  EXPECT_EQ(allowed, 10);
  // 1000 requests add 10% of them.
  for (int i = 0; i < 1000; ++i) b.on_request(t0);
  allowed = 0;
  for (int i = 0; i < 500; ++i) allowed += b.try_retry(t0);
  EXPECT_EQ(allowed, 100);
}

TEST(RetryBudget, TheWindowSlides) {
  RetryBudget b({.budget_ratio = 0, .min_per_second = 1, .budget_window = 10s});
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.try_retry(t0));
  EXPECT_FALSE(b.try_retry(t0 + 5s));
  EXPECT_TRUE(b.try_retry(t0 + 10s));  // the retries of t0 have left the window
}

TEST(RetryBudget, ZeroBudgetMeansNoRetriesAndMaxRetriesBoundsOneRequest) {
  RetryBudget none({.max_retries = 1, .budget_ratio = 0, .min_per_second = 0});
  for (int i = 0; i < 100; ++i) none.on_request(t0);
  EXPECT_FALSE(none.try_retry(t0));
  EXPECT_TRUE(none.within_max_retries(1));
  EXPECT_FALSE(none.within_max_retries(2));
}

}  // namespace
}  // namespace tide::gateway
