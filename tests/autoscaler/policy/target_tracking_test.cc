#include "autoscaler/policy/target_tracking.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace tide::autoscaler {
namespace {

using testing::HasSubstr;

// The HPA as documented: no headroom, no panic, target 10 running requests per replica.
ScalingConfig hpa() {
  ScalingConfig c;
  c.min_replicas = 1;
  c.max_replicas = 100;
  c.target = 10;
  c.headroom = 0;
  c.panic.enabled = false;
  return c;
}

PoolSample sample(double t, int ready, double in_flight, int starting = 0) {
  PoolSample s;
  s.time_s = t;
  s.ready = ready;
  s.starting = starting;
  s.in_flight = in_flight;
  s.arrival_rate = in_flight > 0 ? 1 : 0;
  return s;
}

TEST(TargetTracking, DesiredIsCurrentTimesMetricOverTarget) {
  TargetTracking p(hpa());
  const ScaleDecision d = p.decide(sample(0, 4, 60), 4);  // 15 per replica against 10
  EXPECT_EQ(d.desired, 6);
  EXPECT_THAT(d.reason, HasSubstr("in_flight 15/replica > target 10"));
  EXPECT_THAT(d.reason, HasSubstr("4 → 6"));
}

TEST(TargetTracking, NoChangeWithinTheTolerance) {
  TargetTracking p(hpa());
  const ScaleDecision hold = p.decide(sample(0, 4, 43), 4);  // ratio 1.075
  EXPECT_EQ(hold.desired, 4);
  EXPECT_THAT(hold.reason, HasSubstr("within 10% of target 10"));
  EXPECT_EQ(p.decide(sample(15, 4, 44.5), 4).desired, 5);  // ratio 1.1125: ceil(4.45)
}

TEST(TargetTracking, ClampsToMinAndMax) {
  ScalingConfig c = hpa();
  c.min_replicas = 2;
  c.max_replicas = 8;
  c.scale_up.limit.percent = 1000;
  c.scale_down.stabilization_s = 0;
  TargetTracking p(c);
  const ScaleDecision up = p.decide(sample(0, 4, 400), 4);
  EXPECT_EQ(up.desired, 8);
  EXPECT_THAT(up.reason, HasSubstr("clamped to [2, 8]"));
  EXPECT_EQ(p.decide(sample(15, 8, 1), 8).desired, 2);
}

TEST(TargetTracking, ScaleUpIsRateLimitedPerPeriod) {
  TargetTracking p(hpa());
  // From 2: at most max(+100%, +4) = 6 within 15 s.
  const ScaleDecision first = p.decide(sample(0, 2, 400), 2);
  EXPECT_EQ(first.desired, 6);
  EXPECT_THAT(first.reason, HasSubstr("scale-up limited to 6 (at most +100% or +4 per 15 s)"));
  // 5 s later the period still starts from 2.
  EXPECT_EQ(p.decide(sample(5, 2, 400, 4), 6).desired, 6);
  // A new period starts from 6: max(12, 10).
  EXPECT_EQ(p.decide(sample(15, 6, 400), 6).desired, 12);
}

TEST(TargetTracking, ScaleDownWaitsForTheStabilizationWindow) {
  TargetTracking p(hpa());
  EXPECT_EQ(p.decide(sample(0, 10, 100), 10).desired, 10);
  for (double t = 15; t < 300; t += 15) {
    const ScaleDecision d = p.decide(sample(t, 10, 20), 10);
    ASSERT_EQ(d.desired, 10) << "at " << t << " s";
    EXPECT_THAT(d.reason, HasSubstr("scale-down held at 10 by the highest recommendation of the last 300 s"));
  }
  // The recommendation of 10 made at 0 s has left the window.
  EXPECT_EQ(p.decide(sample(300, 10, 20), 10).desired, 2);
}

TEST(TargetTracking, StabilizationTakesTheHighestRecommendationInTheWindow) {
  TargetTracking p(hpa());
  p.decide(sample(0, 10, 100), 10);
  p.decide(sample(100, 10, 70), 10);  // recommends 7
  EXPECT_EQ(p.decide(sample(310, 10, 20), 10).desired, 7);
  EXPECT_EQ(p.decide(sample(405, 10, 20), 10).desired, 2);
}

TEST(TargetTracking, AFreshControllerDoesNotScaleDownAtOnce) {
  TargetTracking p(hpa());
  const ScaleDecision d = p.decide(sample(1000, 10, 20), 10);  // the first sample after a restart
  EXPECT_EQ(d.desired, 10);
  EXPECT_THAT(d.reason, HasSubstr("scale-down held at 10"));
  EXPECT_EQ(p.decide(sample(1300, 10, 20), 10).desired, 2);
}

TEST(TargetTracking, ScaleDownIsRateLimitedPerPeriod) {
  ScalingConfig c = hpa();
  c.scale_down = {.stabilization_s = 0, .limit = {.percent = 50, .pods = 1, .period_s = 60}};
  TargetTracking p(c);
  p.decide(sample(0, 10, 100), 10);
  const ScaleDecision d = p.decide(sample(15, 10, 20), 10);
  EXPECT_EQ(d.desired, 5) << "max(−50%, −1) from 10";
  EXPECT_THAT(d.reason, HasSubstr("scale-down limited to 5 (at most -50% or -1 per 60 s)"));
  EXPECT_EQ(p.decide(sample(30, 5, 20), 5).desired, 5) << "the period started at 10";
  EXPECT_EQ(p.decide(sample(75, 5, 20), 5).desired, 3) << "a new period: max(−50%, −1) from 5, rounded up";
}

TEST(TargetTracking, HeadroomLowersTheTrackedTarget) {
  ScalingConfig c = hpa();
  c.headroom = 0.2;  // tracks 10 × 0.8 = 8
  TargetTracking p(c);
  const ScaleDecision d = p.decide(sample(0, 4, 40), 4);  // 10 per replica: on the target, above the tracked one
  EXPECT_EQ(d.desired, 5);
  EXPECT_THAT(d.reason, HasSubstr("target 8 (10 − 20% headroom)"));
}

TEST(TargetTracking, ReplicasStillStartingCountAsCapacity) {
  TargetTracking p(hpa());
  // 2 ready carry 40; 2 more are starting: 4 is what 40 needs, so nothing more is asked.
  EXPECT_EQ(p.decide(sample(0, 2, 40, 2), 4).desired, 4);
}

TEST(TargetTracking, PanicScalesUpAtOnceAndNeverDownWhileItLasts) {
  ScalingConfig c = hpa();
  c.panic = {.enabled = true, .threshold = 2, .window_s = 10, .hold_s = 60};
  c.scale_up.limit = {.percent = 10, .pods = 1, .period_s = 15};
  c.scale_down.stabilization_s = 0;
  TargetTracking p(c);
  const ScaleDecision burst = p.decide(sample(0, 2, 50), 2);  // 2.5× the current capacity
  EXPECT_EQ(burst.desired, 5) << "panic skips the +1 per 15 s limit";
  EXPECT_THAT(burst.reason, HasSubstr("panic: 2.5× the current capacity over the last 10 s"));
  for (double t = 15; t < 60; t += 15) {
    const ScaleDecision d = p.decide(sample(t, 5, 5), 5);
    ASSERT_EQ(d.desired, 5) << "at " << t << " s";
    EXPECT_THAT(d.reason, HasSubstr("panic mode"));
  }
  EXPECT_EQ(p.decide(sample(60, 5, 5), 5).desired, 1);
}

TEST(TargetTracking, PanicNeedsTheWindowMeanAboveTheThreshold) {
  ScalingConfig c = hpa();
  c.panic = {.enabled = true, .threshold = 2, .window_s = 20, .hold_s = 60};
  c.scale_up.limit = {.percent = 10, .pods = 1, .period_s = 15};
  TargetTracking p(c);
  p.decide(sample(0, 4, 40), 4);                      // demand 4
  const ScaleDecision d = p.decide(sample(10, 4, 100), 4);  // demand 10; the window's mean is 7 < 8
  EXPECT_EQ(d.desired, 5) << d.reason;
  EXPECT_THAT(d.reason, testing::Not(HasSubstr("panic")));
}

TEST(TargetTracking, ScalesFromZeroWhenRequestsWait) {
  ScalingConfig c = hpa();
  c.min_replicas = 0;
  TargetTracking p(c);
  PoolSample s = sample(0, 0, 0);
  EXPECT_EQ(p.decide(s, 0).desired, 0) << "no load, no replica";
  s.waiting = 3;
  const ScaleDecision d = p.decide(s, 0);
  EXPECT_EQ(d.desired, 1);
  EXPECT_THAT(d.reason, HasSubstr("no ready replica with 3 waiting"));
  s.time_s = 15;
  EXPECT_EQ(p.decide(s, 1).desired, 1) << "the replica starting is kept";
  s.time_s = 30;
  s.waiting = 95;  // each will be running once a replica is up: 95 / 10 per replica
  EXPECT_EQ(p.decide(s, 1).desired, 5) << "max(+100%, +4) from 1";
}

TEST(TargetTracking, ScalesToZeroOnlyWhenNothingArrives) {
  ScalingConfig c = hpa();
  c.min_replicas = 0;
  c.scale_down.stabilization_s = 0;
  TargetTracking p(c);
  PoolSample trickle = sample(0, 1, 0);
  trickle.arrival_rate = 0.05;
  const ScaleDecision keep = p.decide(trickle, 1);
  EXPECT_EQ(keep.desired, 1);
  EXPECT_THAT(keep.reason, HasSubstr("keeping one replica"));
  EXPECT_EQ(p.decide(sample(15, 1, 0), 1).desired, 0);
}

TEST(TargetTracking, HoldsOnASampleWithoutASignal) {
  TargetTracking p(hpa());
  const ScaleDecision d = p.decide(sample(0, 3, std::nan("")), 3);
  EXPECT_EQ(d.desired, 3);
  EXPECT_THAT(d.reason, HasSubstr("no usable signal"));
  EXPECT_EQ(p.decide(sample(15, -1, 5), 3).desired, 3);
}

TEST(TargetTracking, OtherSignalsArePerReplicaExceptKvUsage) {
  ScalingConfig c = hpa();
  c.signal = SignalKind::KvUsage;
  c.target = 0.5;
  PoolSample s = sample(0, 4, 0);
  s.kv_usage = 0.75;  // a mean already
  EXPECT_EQ(TargetTracking(c).decide(s, 4).desired, 6);
  c.signal = SignalKind::TokensPerS;
  c.target = 1000;
  s.tokens_per_s = 6000;
  EXPECT_EQ(TargetTracking(c).decide(s, 4).desired, 6);
  c.signal = SignalKind::Waiting;
  c.target = 2;
  s.waiting = 12;
  EXPECT_EQ(TargetTracking(c).decide(s, 4).desired, 6);
}

}  // namespace
}  // namespace tide::autoscaler
