#include "autoscaler/policy/predictive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "autoscaler/policy/make_policy.h"
#include "autoscaler/policy/static_policy.h"
#include "common/error.h"

namespace tide::autoscaler {
namespace {

using testing::HasSubstr;

constexpr double kDay = 86'400;
constexpr double kServiceS = 8;  // Little's law: in flight = rate × service time

double tide_rate(double t) { return 45 + 35 * std::sin(2 * M_PI * t / kDay); }

ScalingConfig config() {
  ScalingConfig c;
  c.max_replicas = 100;
  c.predictive.learn_capacity = false;
  return c;
}

// A pool whose replicas are ready the moment they are asked for, carrying `rate`.
PoolSample pool_at(double t, double rate, int replicas) {
  PoolSample s;
  s.time_s = t;
  s.ready = replicas;
  s.arrival_rate = rate;
  s.completion_rate = rate;
  s.in_flight = rate * kServiceS;
  s.slo_attainment = 1;
  return s;
}

TEST(Predictive, PlansForTheForecastAtReadyTime) {
  ScalingConfig c = config();
  c.predictive.margin_s = 1800;  // plan 90 + 1800 s ahead, so the rise is well past the noise
  Predictive p(c);
  int replicas = 10;
  const double t = kDay + 3600;  // day two, on the tide's steepest rise
  for (double s = 0; s < t; s += 15) replicas = p.decide(pool_at(s, tide_rate(s), replicas), replicas).desired;
  ASSERT_TRUE(p.forecaster().seasonal());
  const ScaleDecision d = p.decide(pool_at(t, tide_rate(t), replicas), replicas);
  // The rate now needs 17 replicas at 80% of 4 req/s; the rate when they are ready needs 19.
  ASSERT_EQ(std::ceil(tide_rate(t) / 3.2), 17);
  EXPECT_GE(d.desired, static_cast<int>(std::ceil(tide_rate(t + 1890) / 3.2))) << d.reason;
  EXPECT_THAT(d.reason, HasSubstr("forecast"));
  EXPECT_THAT(d.reason, HasSubstr("by +1890 s"));
}

TEST(Predictive, TheReactiveRecommendationIsTheFloor) {
  Predictive p(config());
  // Few arrivals, but replicas full of long requests: the forecast alone would shrink the pool.
  PoolSample s = pool_at(0, 1, 4);
  s.in_flight = 4 * 40;
  const ScaleDecision d = p.decide(s, 4);
  EXPECT_EQ(d.desired, 7) << d.reason;  // 160 running / 25.6 per replica
  EXPECT_THAT(d.reason, HasSubstr("reactive floor 7"));
}

TEST(Predictive, WarmsUpOnTheTrendAndTheRateNow) {
  Predictive p(config());
  const ScaleDecision d = p.decide(pool_at(0, 32, 10), 10);
  EXPECT_EQ(d.desired, 10) << d.reason;  // 32 req/s at 3.2 per replica
  EXPECT_THAT(d.reason, HasSubstr("trend 32.0 req/s"));
  EXPECT_FALSE(p.forecaster().seasonal());
}

TEST(Predictive, ClearsTheQueueByTheTimeNewReplicasAreReady) {
  Predictive p(config());
  PoolSample s = pool_at(0, 32, 10);
  s.waiting = 1500;  // 10 req/s more over the 150 s lookahead
  const ScaleDecision d = p.decide(s, 10);
  EXPECT_EQ(d.desired, 14) << d.reason;  // ceil(42 / 3.2) = 14
  EXPECT_THAT(d.reason, HasSubstr("incl. 1500 waiting"));
}

TEST(Predictive, ScaleDownWaitsForTheStabilizationWindow) {
  Predictive p(config());
  EXPECT_EQ(p.decide(pool_at(0, 32, 10), 10).desired, 10);
  int replicas = 10;
  for (double t = 15; t < 300; t += 15) {
    replicas = p.decide(pool_at(t, 3.2, replicas), replicas).desired;
    ASSERT_EQ(replicas, 10) << "at " << t << " s";
  }
  for (double t = 315; t <= 900; t += 15) replicas = p.decide(pool_at(t, 3.2, replicas), replicas).desired;
  EXPECT_LE(replicas, 3);
}

TEST(Predictive, HoldsOnASampleWithoutASignal) {
  Predictive p(config());
  PoolSample s = pool_at(0, 10, 5);
  s.in_flight = std::nan("");
  EXPECT_EQ(p.decide(s, 5).desired, 5);
}

TEST(MakePolicy, BuildsWhatTheConfigNames) {
  ScalingConfig c = config();
  EXPECT_EQ(make_policy(c)->name(), "reactive");
  c.policy = PolicyKind::Predictive;
  EXPECT_EQ(make_policy(c)->name(), "predictive");
  c.policy = PolicyKind::Static;
  EXPECT_THROW(make_policy(c), Error);
  c.static_policy.replicas = 3;
  const auto p = make_policy(c);
  EXPECT_EQ(p->name(), "static");
  EXPECT_EQ(p->decide(pool_at(0, 100, 1), 1).desired, 3);
}

}  // namespace
}  // namespace tide::autoscaler
