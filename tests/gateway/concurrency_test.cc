// The policies documented as thread-safe, hammered from several threads: totals must come out
// exactly as if the calls were serial (and a sanitizer build checks for races).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gateway/outlier_detector.h"
#include "gateway/prefix_aware.h"
#include "gateway/rate_limiter.h"
#include "gateway/retry_budget.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
const Clock::time_point t0 = Clock::time_point{} + 1h;

template <typename Fn>
void on_threads(int threads, Fn fn) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fn, t);
  for (auto& th : pool) th.join();
}

TEST(Concurrency, LimiterAdmitsExactlyTheBurstAcrossThreads) {
  const RateLimiter limiter({{.key = {.user = true}, .requests_per_second = 1, .burst = 1000}},
                            std::make_shared<LocalLimiterBackend>());
  std::atomic<int> admitted{0};
  on_threads(4, [&](int) {
    for (int i = 0; i < 500; ++i) admitted += limiter.admit({.user = "u"}, 0, t0).decision.allowed;
  });
  EXPECT_EQ(admitted.load(), 1000);
}

TEST(Concurrency, RetryBudgetAndBalancerAndDetector) {
  RetryBudget budget({.budget_ratio = 0, .min_per_second = 10, .budget_window = 10s});
  std::atomic<int> retries{0};
  PrefixAwareBalancer balancer({.block_size = 8, .learned_entries = 64});
  std::vector<EndpointSnapshot> endpoints(4);
  for (int i = 0; i < 4; ++i) endpoints[i].id = std::to_string(i);
  OutlierDetector detector({});
  const std::vector<std::string> ids = {"0", "1", "2", "3"};
  detector.set_endpoints(ids);
  on_threads(4, [&](int t) {
    for (int i = 0; i < 200; ++i) {
      retries += budget.try_retry(t0);
      balancer.pick(endpoints, {.prompt = "prompt number " + std::to_string(i * 4 + t)});
      detector.record(ids[static_cast<std::size_t>(i % 4)], Outcome::Success, t0);
      detector.eligible(ids[static_cast<std::size_t>(t)], t0);
    }
  });
  EXPECT_EQ(retries.load(), 100);
  EXPECT_LE(balancer.learned_size(), 64u);
  EXPECT_EQ(detector.health(t0).healthy, 4u);
}

}  // namespace
}  // namespace tide::gateway
