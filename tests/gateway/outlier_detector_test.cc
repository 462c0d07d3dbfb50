#include "gateway/outlier_detector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
const Clock::time_point t0 = Clock::time_point{} + 1h;

std::vector<std::string> ids(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(fmt::format("e{}", i));
  return out;
}

OutlierConfig config() {
  OutlierConfig c;
  c.consecutive_failures = 3;
  c.error_rate = 0.2;
  c.window = 10s;
  c.min_requests = 10;
  c.base_ejection_time = 30s;
  c.max_ejection_time = 100s;
  c.max_ejection_percent = 50;
  return c;
}

TEST(OutlierDetector, ConsecutiveFailuresEjectAndSuccessResetsTheStreak) {
  OutlierDetector d(config());
  d.set_endpoints(ids(4));
  d.record("e0", Outcome::Failure, t0);
  d.record("e0", Outcome::Failure, t0);
  d.record("e0", Outcome::Success, t0);
  d.record("e0", Outcome::Failure, t0);
  d.record("e0", Outcome::Failure, t0);
  EXPECT_TRUE(d.eligible("e0", t0));
  d.record("e0", Outcome::Failure, t0);
  EXPECT_FALSE(d.eligible("e0", t0));
  EXPECT_EQ(d.state("e0", t0).ejected_until, t0 + 30s);
  EXPECT_EQ(d.health(t0).healthy, 3u);
}

TEST(OutlierDetector, Upstream429IsNotAFailureAndDoesNotResetTheStreak) {
  OutlierDetector d(config());
  d.set_endpoints(ids(4));
  for (int i = 0; i < 50; ++i) d.record("e1", Outcome::Overloaded, t0);
  EXPECT_TRUE(d.eligible("e1", t0));
  d.record("e1", Outcome::Failure, t0);
  d.record("e1", Outcome::Overloaded, t0);
  d.record("e1", Outcome::Failure, t0);
  d.record("e1", Outcome::Failure, t0);
  EXPECT_FALSE(d.eligible("e1", t0));
}

TEST(OutlierDetector, ErrorRateNeedsMinRequestsAndIsJudgedOverTheWindow) {
  OutlierConfig c = config();
  c.consecutive_failures = 0;  // only the rate trigger
  OutlierDetector d(c);
  d.set_endpoints(ids(4));
  // 2 failures in 9 requests: 22% but below min_requests.
  for (int i = 0; i < 7; ++i) d.record("e0", Outcome::Success, t0);
  d.record("e0", Outcome::Failure, t0);
  d.record("e0", Outcome::Failure, t0);
  EXPECT_TRUE(d.eligible("e0", t0));
  // The 10th request is a failure: 3/10 = 30% > 20%.
  d.record("e0", Outcome::Failure, t0 + 1s);
  EXPECT_FALSE(d.eligible("e0", t0 + 1s));

  // Exactly at the threshold (2/10 = 20%) is not above it.
  for (int i = 0; i < 8; ++i) d.record("e1", Outcome::Success, t0);
  d.record("e1", Outcome::Failure, t0);
  d.record("e1", Outcome::Failure, t0);
  EXPECT_TRUE(d.eligible("e1", t0));
  // Old failures slide out of the 10 s window.
  for (int i = 0; i < 2; ++i) d.record("e3", Outcome::Failure, t0);
  for (int i = 0; i < 9; ++i) d.record("e3", Outcome::Success, t0 + 11s);
  d.record("e3", Outcome::Failure, t0 + 11s);  // 1/10 in the window: fine
  EXPECT_TRUE(d.eligible("e3", t0 + 11s));
}

TEST(OutlierDetector, EjectionGrowsWithEachEjectionIsCappedAndDecays) {
  OutlierDetector d(config());
  d.set_endpoints(ids(2));
  const auto eject = [&](Clock::time_point at) {
    for (int i = 0; i < 3; ++i) d.record("e0", Outcome::Failure, at);
    return d.state("e0", at).ejected_until - at;
  };
  EXPECT_EQ(eject(t0), 30s);
  EXPECT_TRUE(d.eligible("e0", t0 + 30s));  // un-ejected when the time passes
  EXPECT_EQ(eject(t0 + 30s), 60s);
  EXPECT_EQ(eject(t0 + 90s), 90s);
  EXPECT_EQ(eject(t0 + 180s), 100s);  // 120 s capped at max_ejection_time
  EXPECT_EQ(d.state("e0", t0 + 280s).times_ejected, 4u);
  // 60 s healthy after the last ejection ended (two base times): the count decays by two.
  EXPECT_EQ(eject(t0 + 340s), 90s);
}

TEST(OutlierDetector, FailuresDuringAnEjectionAreIgnoredAndUnEjectionStartsClean) {
  OutlierDetector d(config());
  d.set_endpoints(ids(2));
  for (int i = 0; i < 3; ++i) d.record("e0", Outcome::Failure, t0);
  for (int i = 0; i < 10; ++i) d.record("e0", Outcome::Failure, t0 + 1s);
  EXPECT_EQ(d.state("e0", t0 + 1s).times_ejected, 1u);
  d.record("e0", Outcome::Failure, t0 + 30s);
  d.record("e0", Outcome::Failure, t0 + 30s);
  EXPECT_TRUE(d.eligible("e0", t0 + 30s));
}

TEST(OutlierDetector, NeverEjectsMoreThanMaxPercentButAlwaysOne) {
  OutlierDetector d(config());  // 50%
  d.set_endpoints(ids(4));
  for (const char* id : {"e0", "e1", "e2"})
    for (int i = 0; i < 3; ++i) d.record(id, Outcome::Failure, t0);
  EXPECT_EQ(d.health(t0).healthy, 2u);  // two of four ejected, the third refused
  EXPECT_TRUE(d.eligible("e2", t0));
  // Once one ejection ends, the cap has room and the next failure ejects e2.
  d.record("e2", Outcome::Failure, t0 + 30s);
  EXPECT_FALSE(d.eligible("e2", t0 + 30s));

  OutlierConfig none = config();
  none.max_ejection_percent = 0;
  OutlierDetector one(none);
  one.set_endpoints(ids(3));
  for (const char* id : {"e0", "e1"})
    for (int i = 0; i < 3; ++i) one.record(id, Outcome::Failure, t0);
  EXPECT_EQ(one.health(t0).healthy, 2u);
}

TEST(OutlierDetector, DrainingEndpointsGetNothingButAreNotFailed) {
  OutlierDetector d(config());
  d.set_endpoints(ids(2));
  d.set_ready("e1", false);
  EXPECT_FALSE(d.eligible("e1", t0));
  EXPECT_FALSE(d.state("e1", t0).ejected);
  EXPECT_EQ(d.state("e1", t0).times_ejected, 0u);
  EXPECT_EQ(d.health(t0).healthy, 1u);
  d.set_ready("e1", true);
  EXPECT_TRUE(d.eligible("e1", t0));
}

TEST(OutlierDetector, MembershipComesFromDiscovery) {
  OutlierDetector d(config());
  d.set_endpoints(ids(2));
  EXPECT_FALSE(d.eligible("stranger", t0));
  d.record("stranger", Outcome::Failure, t0);  // ignored
  for (int i = 0; i < 3; ++i) d.record("e1", Outcome::Failure, t0);
  d.set_endpoints(std::vector<std::string>{"e0"});
  EXPECT_FALSE(d.state("e1", t0).known);
  EXPECT_EQ(d.health(t0).total, 1u);
}

}  // namespace
}  // namespace tide::gateway
