#include "gateway/admission_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0{};

AdmissionConfig three_classes() {
  AdmissionConfig c;
  c.queues = {{.priority = "high", .max_size = 2, .timeout = 1s},
              {.priority = "default", .max_size = 3, .timeout = 5s},
              {.priority = "batch", .max_size = 4, .timeout = 30s}};
  return c;
}

// Records the order and outcome of resumes: "name:1" admitted, "name:0" refused.
struct Log {
  std::vector<std::string> events;
  AdmissionQueue::Resume waiter(std::string name) {
    return [this, name](bool admitted) { events.push_back(name + (admitted ? ":1" : ":0")); };
  }
};

TEST(AdmissionQueue, ReleasesHighestPriorityFirstAndFifoWithin) {
  AdmissionQueue q(three_classes());
  Log log;
  ASSERT_TRUE(q.enqueue(2, t0 + 30s, log.waiter("b1")));
  ASSERT_TRUE(q.enqueue(1, t0 + 5s, log.waiter("d1")));
  ASSERT_TRUE(q.enqueue(0, t0 + 1s, log.waiter("h1")));
  ASSERT_TRUE(q.enqueue(1, t0 + 5s, log.waiter("d2")));
  ASSERT_TRUE(q.enqueue(0, t0 + 1s, log.waiter("h2")));
  ASSERT_TRUE(q.enqueue(2, t0 + 30s, log.waiter("b2")));
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(q.size(0), 2u);

  EXPECT_TRUE(q.release_one());
  EXPECT_EQ(log.events, (std::vector<std::string>{"h1:1"}));
  EXPECT_EQ(q.release(3), 3u);
  EXPECT_EQ(log.events, (std::vector<std::string>{"h1:1", "h2:1", "d1:1", "d2:1"}));
  EXPECT_EQ(q.release(10), 2u);  // only two left
  EXPECT_EQ(log.events.back(), "b2:1");
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.release_one());
}

TEST(AdmissionQueue, AFullClassRefusesWithoutTouchingOthers) {
  AdmissionQueue q(three_classes());
  Log log;
  EXPECT_TRUE(q.enqueue(0, t0 + 1s, log.waiter("h1")));
  EXPECT_TRUE(q.enqueue(0, t0 + 1s, log.waiter("h2")));
  EXPECT_FALSE(q.enqueue(0, t0 + 1s, log.waiter("h3")));  // max_size 2: the caller answers 429
  EXPECT_TRUE(q.enqueue(1, t0 + 5s, log.waiter("d1")));
  EXPECT_FALSE(q.enqueue(7, t0 + 5s, log.waiter("x")));  // no such class
  EXPECT_EQ(q.size(), 3u);
  EXPECT_TRUE(log.events.empty());  // a refused enqueue never calls back
  // Room again once one leaves.
  q.release_one();
  EXPECT_TRUE(q.enqueue(0, t0 + 1s, log.waiter("h3")));
}

TEST(AdmissionQueue, MaxSizeZeroNeverQueues) {
  AdmissionConfig c;
  c.queues = {{.priority = "default", .max_size = 0}};
  AdmissionQueue q(c);
  EXPECT_FALSE(q.enqueue(0, t0 + 1s, [](bool) {}));
}

TEST(AdmissionQueue, ExpireResumesTimedOutWaitersWithFalse) {
  AdmissionQueue q(three_classes());
  Log log;
  q.enqueue(1, q.deadline(1, t0), log.waiter("d1"));         // t0 + 5s
  q.enqueue(0, q.deadline(0, t0 + 2s), log.waiter("h1"));    // t0 + 3s
  q.enqueue(2, q.deadline(2, t0), log.waiter("b1"));         // t0 + 30s
  q.enqueue(1, q.deadline(1, t0 + 1s), log.waiter("d2"));    // t0 + 6s
  EXPECT_EQ(q.next_deadline(), t0 + 3s);

  EXPECT_EQ(q.expire(t0 + 2999ms), 0u);
  EXPECT_EQ(q.expire(t0 + 5s), 2u);  // a deadline equal to now has passed
  EXPECT_EQ(log.events, (std::vector<std::string>{"h1:0", "d1:0"}));  // earliest deadline first
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.next_deadline(), t0 + 6s);

  // The survivors keep their order for release.
  q.release(2);
  EXPECT_EQ(log.events, (std::vector<std::string>{"h1:0", "d1:0", "d2:1", "b1:1"}));
  EXPECT_EQ(q.next_deadline(), std::nullopt);
  EXPECT_EQ(q.expire(t0 + 1h), 0u);
}

TEST(AdmissionQueue, ARequestDeadlineEarlierThanTheClassTimeoutIsHonoured) {
  AdmissionQueue q(three_classes());
  Log log;
  q.enqueue(2, t0 + 1s, log.waiter("b1"));  // its own deadline, well under batch's 30 s
  q.enqueue(2, q.deadline(2, t0), log.waiter("b2"));
  q.expire(t0 + 1s);
  EXPECT_EQ(log.events, (std::vector<std::string>{"b1:0"}));
  // A released waiter is gone from the deadline index: expiring later resumes nothing twice.
  q.release_one();
  EXPECT_EQ(q.expire(t0 + 1h), 0u);
  EXPECT_EQ(log.events, (std::vector<std::string>{"b1:0", "b2:1"}));
}

TEST(AdmissionQueue, PriorityNamesMapToClassesAndUnknownNamesToDefault) {
  AdmissionQueue q(three_classes());
  EXPECT_EQ(q.priority_of("high"), 0u);
  EXPECT_EQ(q.priority_of("batch"), 2u);
  EXPECT_EQ(q.priority_of(""), 1u);
  EXPECT_EQ(q.priority_of("urgent!!"), 1u);
  EXPECT_EQ(q.classes(), 3u);

  AdmissionConfig no_default;
  no_default.queues = {{.priority = "high"}, {.priority = "low"}};
  EXPECT_EQ(AdmissionQueue(no_default).priority_of("made-up"), 1u);  // the lowest
  EXPECT_THROW(AdmissionQueue(AdmissionConfig{.queues = {}}), Error);
}

TEST(AdmissionQueue, CallbacksRunOutsideTheLockAndMayReenter) {
  AdmissionQueue q(three_classes());
  Log log;
  // A resumed request that finishes at once frees capacity for the next one from its callback.
  q.enqueue(1, t0 + 5s, [&](bool ok) {
    log.events.push_back(std::string("d1:") + (ok ? "1" : "0"));
    EXPECT_EQ(q.size(), 1u);
    q.release_one();
  });
  q.enqueue(1, t0 + 5s, log.waiter("d2"));
  q.release_one();
  EXPECT_EQ(log.events, (std::vector<std::string>{"d1:1", "d2:1"}));
  // And an expired one may re-queue itself in another class.
  q.enqueue(0, t0 + 1s, [&](bool ok) { EXPECT_TRUE(q.enqueue(2, t0 + 30s, log.waiter("retry"))); });
  q.expire(t0 + 2s);
  EXPECT_EQ(q.size(2), 1u);
}

TEST(AdmissionQueue, DrainRefusesEveryone) {
  AdmissionQueue q(three_classes());
  Log log;
  q.enqueue(0, t0 + 1s, log.waiter("h1"));
  q.enqueue(2, t0 + 1s, log.waiter("b1"));
  EXPECT_EQ(q.drain(), 2u);
  EXPECT_EQ(log.events, (std::vector<std::string>{"h1:0", "b1:0"}));
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.next_deadline(), std::nullopt);
}

TEST(AdmissionQueue, ConcurrentEnqueueReleaseAndExpireResumeEachWaiterExactlyOnce) {
  AdmissionConfig c;
  c.queues = {{.priority = "high", .max_size = 1000}, {.priority = "default", .max_size = 1000}};
  AdmissionQueue q(c);
  constexpr int kThreads = 4, kPerThread = 500;
  std::atomic<int> admitted{0}, refused{0}, queued{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto deadline = t0 + std::chrono::milliseconds(i);
        if (q.enqueue(i % 2, deadline, [&](bool ok) { (ok ? admitted : refused).fetch_add(1); })) queued.fetch_add(1);
        if (i % 3 == 0) q.release(2);
        if (t == 0 && i % 50 == 0) q.expire(t0 + std::chrono::milliseconds(i / 2));
      }
    });
  for (auto& th : threads) th.join();
  q.drain();
  EXPECT_EQ(admitted + refused, queued.load());
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace tide::gateway
