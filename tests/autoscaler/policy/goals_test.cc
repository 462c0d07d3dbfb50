// The goals, on the shipped traces with the default config and replica model (the
// figures of docs/benchmarks.md): on the tidal day the predictive policy keeps ≥ 99% of
// requests within the TTFT SLO on ≤ 60% of the replica-hours of a static pool sized for the
// peak; on the sudden spike and on the ramp it keeps more requests within the SLO than the
// reactive (HPA) policy.
#include <gtest/gtest.h>

#include "autoscaler/policy/policy_comparison.h"

namespace tide::autoscaler {
namespace {

SimulationRun run(const std::string& name) {
  const std::string path = std::string(TIDE_TRACES_DIR) + "/" + name + ".csv";
  static std::vector<std::unique_ptr<Trace>> traces;  // the runs point at their trace
  traces.push_back(std::make_unique<Trace>(load_trace(path)));
  return compare_policies(name, *traces.back(), ScalingConfig{},
                          {PolicyKind::Static, PolicyKind::Reactive, PolicyKind::Predictive}, SimulationOptions{});
}

TEST(AutoscalerGoals, TidalPredictiveMeetsTheSloOnAtMostSixtyPercentOfStatic) {
  const SimulationRun r = run("tidal");
  const SimulationResult& predictive = r.results[2];
  EXPECT_GE(predictive.attainment, 0.99) << simulation_table(r);
  EXPECT_LE(share_of_static(r, predictive), 0.60) << simulation_table(r);
  EXPECT_GE(r.results[0].attainment, 0.99) << "the static peak pool is the reference";
}

TEST(AutoscalerGoals, SpikePredictiveBeatsReactive) {
  const SimulationRun r = run("spike");
  EXPECT_GT(r.results[2].attainment, r.results[1].attainment) << simulation_table(r);
}

TEST(AutoscalerGoals, RampPredictiveBeatsReactive) {
  const SimulationRun r = run("ramp");
  EXPECT_GT(r.results[2].attainment, r.results[1].attainment) << simulation_table(r);
}

}  // namespace
}  // namespace tide::autoscaler
