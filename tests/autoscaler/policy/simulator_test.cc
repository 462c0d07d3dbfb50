#include "autoscaler/policy/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "autoscaler/policy/policy_comparison.h"
#include "autoscaler/policy/static_policy.h"
#include "autoscaler/policy/target_tracking.h"

namespace tide::autoscaler {
namespace {

Trace constant(double rate, double duration_s) {
  Trace t;
  for (double s = 0; s < duration_s; s += 60) t.rows.push_back({s, rate});
  t.end_s = duration_s;
  return t;
}

// Asks for counts at given times, and records every sample it is shown.
class Scripted final : public ScalingPolicy {
 public:
  explicit Scripted(std::map<double, int> plan) : plan_(std::move(plan)) {}
  ScaleDecision decide(const PoolSample& s, int current) override {
    samples.push_back(s);
    auto it = plan_.upper_bound(s.time_s);
    if (it == plan_.begin()) return {current, "scripted"};
    return {std::prev(it)->second, "scripted"};
  }
  std::string_view name() const override { return "scripted"; }
  std::vector<PoolSample> samples;

 private:
  std::map<double, int> plan_;
};

TEST(Simulator, TheSameSeedGivesTheSameRun) {
  const Trace trace = constant(20, 3600);
  ScalingConfig c;
  SimulationOptions o;
  o.seed = 42;
  TargetTracking a(c), b(c);
  const SimulationResult x = simulate(trace, a, o), y = simulate(trace, b, o);
  EXPECT_EQ(x.requests, y.requests);
  EXPECT_EQ(x.met_slo, y.met_slo);
  EXPECT_EQ(x.replica_hours, y.replica_hours);
  EXPECT_EQ(x.p99_ttft_s, y.p99_ttft_s);
  ASSERT_EQ(x.timeline.size(), y.timeline.size());
  for (std::size_t i = 0; i < x.timeline.size(); ++i) EXPECT_EQ(x.timeline[i].provisioned, y.timeline[i].provisioned);
  o.seed = 43;
  TargetTracking other(c);
  EXPECT_NE(simulate(trace, other, o).requests, x.requests);
}

TEST(Simulator, AStaticPoolSizedForThePeakMeetsTheSlo) {
  const Trace trace = constant(20, 3600);
  SimulationOptions o;
  o.initial_replicas = 7;  // 20 req/s at 80% of 4 req/s per replica
  StaticPolicy p(7);
  const SimulationResult r = simulate(trace, p, o);
  EXPECT_NEAR(static_cast<double>(r.requests), 72'000, 72'000 * 0.02);
  EXPECT_GE(r.attainment, 0.999);
  EXPECT_NEAR(r.replica_hours, 7, 1e-9);
  EXPECT_EQ(r.max_replicas, 7);
  EXPECT_EQ(r.scale_events, 0);
  EXPECT_NEAR(r.p50_ttft_s, o.replica.prefill_s, 1e-6) << "no queueing: TTFT is the prefill";
  EXPECT_EQ(r.timeline.size(), 240u) << "a tick every 15 s";
}

TEST(Simulator, SamplesAreBuiltLikeTheLiveOnes) {
  const Trace trace = constant(20, 1800);
  SimulationOptions o;
  o.initial_replicas = 7;
  Scripted p(std::map<double, int>{});
  simulate(trace, p, o);
  double arrivals = 0, in_flight = 0;
  for (const PoolSample& s : p.samples) {
    EXPECT_EQ(s.ready, 7);
    EXPECT_EQ(s.waiting, 0);
    EXPECT_EQ(s.slo_attainment, 1);
    EXPECT_NEAR(s.kv_usage, s.in_flight / (7 * 32), 1e-12);
    arrivals += s.arrival_rate;
    in_flight += s.in_flight;
  }
  const auto n = static_cast<double>(p.samples.size());
  EXPECT_NEAR(arrivals / n, 20, 0.5);
  EXPECT_NEAR(in_flight / n, 20 * 8, 8) << "Little's law: rate × service time";
  EXPECT_EQ(p.samples[1].time_s - p.samples[0].time_s, 15);
}

TEST(Simulator, NewReplicasServeOnlyAfterTheirStartUp) {
  const Trace trace = constant(20, 1200);
  SimulationOptions o;
  o.initial_replicas = 2;  // 8 req/s of capacity for 20: a queue builds
  Scripted p(std::map<double, int>{{60, 8}});
  const SimulationResult r = simulate(trace, p, o);
  for (const TimelinePoint& t : r.timeline) {
    EXPECT_EQ(t.ready, t.time_s < 60 + o.replica.startup_s ? 2 : 8) << t.time_s;
  }
  EXPECT_LT(r.attainment, 0.9);
  EXPECT_GT(r.p99_ttft_s, o.slo_ttft_s);
  EXPECT_EQ(r.scale_events, 1);
  EXPECT_EQ(r.max_replicas, 8);
  EXPECT_GT(p.samples[4].waiting, 0);
  EXPECT_EQ(p.samples[4].starting, 6);
}

TEST(Simulator, ScaleInDrainsBeforeStopping) {
  const Trace trace = constant(10, 1200);
  SimulationOptions o;
  o.initial_replicas = 8;
  Scripted p(std::map<double, int>{{600, 4}});
  const SimulationResult r = simulate(trace, p, o);
  EXPECT_GE(r.attainment, 0.999) << "draining replicas take no new requests, but finish theirs";
  // 8 replicas for 600 s, 4 for the rest, and the 4 leaving paid until their last request ends.
  EXPECT_GT(r.replica_hours, (8 * 600 + 4 * 600) / 3600.0);
  EXPECT_LT(r.replica_hours, (8 * 600 + 4 * 600 + 4 * 120) / 3600.0);
  const auto& after = r.timeline[40];  // the tick right after 600 s
  EXPECT_EQ(after.ready, 4);
  EXPECT_GT(after.provisioned, 4) << "some are still draining";
}

TEST(Simulator, ScalesFromZeroAndBackToZero) {
  Trace trace;
  for (double s = 0; s < 3600; s += 60) trace.rows.push_back({s, s >= 600 && s < 1200 ? 5.0 : 0.0});
  trace.end_s = 3600;
  ScalingConfig c;
  c.min_replicas = 0;
  SimulationOptions o;
  o.initial_replicas = 0;
  TargetTracking p(c);
  const SimulationResult r = simulate(trace, p, o);
  EXPECT_GT(r.requests, 2500);
  EXPECT_LT(r.attainment, 1) << "the first requests wait for a replica to start";
  EXPECT_GT(r.attainment, 0.7);
  EXPECT_EQ(r.timeline.back().provisioned, 0);
  EXPECT_GE(r.scale_events, 2);
  EXPECT_THAT(r.events.front().reason, testing::HasSubstr("no ready replica"));
}

TEST(Simulator, ComparePoliciesSizesStaticForThePeak) {
  const Trace trace = constant(20, 1800);
  const SimulationRun run =
      compare_policies("flat", trace, ScalingConfig{}, {PolicyKind::Static, PolicyKind::Reactive}, SimulationOptions{});
  ASSERT_EQ(run.results.size(), 2u);
  EXPECT_EQ(run.results[0].policy, "static");
  EXPECT_EQ(run.results[0].max_replicas, 7);
  EXPECT_EQ(run.results[1].policy, "reactive");
  EXPECT_DOUBLE_EQ(share_of_static(run, run.results[0]), 1);
  const std::string table = simulation_table(run);
  EXPECT_THAT(table, testing::HasSubstr("static"));
  EXPECT_THAT(table, testing::HasSubstr("100%"));
  const nlohmann::json json = simulation_json(run, {{"trace", "flat"}});
  EXPECT_EQ(json["results"][0]["timeline"].size(), run.results[0].timeline.size());
  EXPECT_EQ(json["results"][1]["policy"], "reactive");
  const std::string svg = simulation_svg(run);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_THAT(svg, testing::HasSubstr("</svg>"));
  EXPECT_THAT(svg, testing::HasSubstr("static (")) << "the legend names each policy";
}

}  // namespace
}  // namespace tide::autoscaler
