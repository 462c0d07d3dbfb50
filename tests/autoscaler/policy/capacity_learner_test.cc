#include "autoscaler/policy/capacity_learner.h"

#include <gtest/gtest.h>

namespace tide::autoscaler {
namespace {

// A pool of 10 replicas finishing `completions` req/s with `waiting` queued.
PoolSample saturated(double completions, double attainment, double waiting = 5) {
  PoolSample s;
  s.ready = 10;
  s.waiting = waiting;
  s.completion_rate = completions;
  s.slo_attainment = attainment;
  return s;
}

TEST(CapacityLearner, ConvergesToTheSaturatedThroughputWithinTheSlo) {
  CapacityLearner learner(4, true, 0.99);
  learner.observe(saturated(30, 1.0));
  EXPECT_EQ(learner.capacity_rps(), 4) << "one saturated instant does not show a saturated interval";
  learner.observe(saturated(30, 1.0));
  EXPECT_NEAR(learner.capacity_rps(), 3.8, 1e-9) << "an EWMA step of 0.2, within the ±10% cap";
  for (int i = 0; i < 100; ++i) learner.observe(saturated(30, 0.995));
  EXPECT_NEAR(learner.capacity_rps(), 3.0, 0.01);
}

TEST(CapacityLearner, StepsAreCappedAndTheEstimateIsBounded) {
  CapacityLearner learner(4, true, 0.99);
  learner.observe(saturated(1000, 1.0));
  learner.observe(saturated(1000, 1.0));  // 100 req/s per replica: surely an odd sample
  EXPECT_NEAR(learner.capacity_rps(), 4.4, 1e-9);
  for (int i = 0; i < 200; ++i) learner.observe(saturated(1000, 1.0));
  EXPECT_NEAR(learner.capacity_rps(), 16, 1e-9) << "at most 4× the seed";
}

TEST(CapacityLearner, LearnsOnlyFromSaturatedSamples) {
  CapacityLearner learner(4, true, 0.99);
  learner.observe(saturated(10, 1.0, 0));  // nothing queued: the rate is the demand, not capacity
  PoolSample no_slo = saturated(10, 1.0);
  no_slo.slo_attainment = std::nan("");
  learner.observe(no_slo);
  EXPECT_EQ(learner.capacity_rps(), 4);
  EXPECT_EQ(learner.updates(), 0);
  PoolSample kv_full = saturated(30, 1.0, 0);
  kv_full.kv_usage = 0.95;
  learner.observe(kv_full);
  EXPECT_EQ(learner.updates(), 1);
}

TEST(CapacityLearner, AMissedSloOnlyLowersTheEstimate) {
  CapacityLearner learner(4, true, 0.99);
  learner.observe(saturated(50, 0.5));  // 5/replica while missing the SLO: not capacity within it
  EXPECT_EQ(learner.capacity_rps(), 4);
  learner.observe(saturated(30, 0.5));  // 3/replica and still missing: below the estimate
  EXPECT_LT(learner.capacity_rps(), 4);
}

TEST(CapacityLearner, ReplicasJoiningMidIntervalSpoilTheMeasurement) {
  CapacityLearner learner(4, true, 0.99);
  learner.observe(saturated(30, 1.0));
  PoolSample grown = saturated(30, 1.0);
  grown.ready = 12;
  learner.observe(grown);
  EXPECT_EQ(learner.updates(), 0);
}

TEST(CapacityLearner, DisabledKeepsTheConfiguredValue) {
  CapacityLearner learner(4, false, 0.99);
  for (int i = 0; i < 10; ++i) learner.observe(saturated(30, 1.0));
  EXPECT_EQ(learner.capacity_rps(), 4);
}

}  // namespace
}  // namespace tide::autoscaler
