#include "autoscaler/policy/scaling_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace tide::autoscaler {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_scaling_config_text(yaml, "scaling.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& yaml, const std::string& text) {
  EXPECT_THAT(error_of(yaml), testing::HasSubstr(text)) << "config:\n" << yaml;
}

TEST(ScalingConfig, EmptyConfigGetsTheDocumentedDefaults) {
  const ScalingConfig c = parse_scaling_config_text("", "scaling.yaml");
  EXPECT_EQ(c.min_replicas, 1);
  EXPECT_EQ(c.max_replicas, 64);
  EXPECT_EQ(c.interval_s, 15);
  EXPECT_EQ(c.policy, PolicyKind::Reactive);
  EXPECT_EQ(c.signal, SignalKind::InFlight);
  EXPECT_EQ(c.target, 32);
  EXPECT_DOUBLE_EQ(c.tolerance, 0.1);
  EXPECT_DOUBLE_EQ(c.headroom, 0.2);
  EXPECT_DOUBLE_EQ(c.effective_target(), 25.6);
  EXPECT_EQ(c.scale_up.stabilization_s, 0);
  EXPECT_EQ(c.scale_up.limit.percent, 100);
  EXPECT_EQ(c.scale_up.limit.pods, 4);
  EXPECT_EQ(c.scale_up.limit.period_s, 15);
  EXPECT_EQ(c.scale_down.stabilization_s, 300);
  EXPECT_EQ(c.scale_down.limit.percent, 100);
  EXPECT_TRUE(c.panic.enabled);
  EXPECT_EQ(c.panic.threshold, 2);
  EXPECT_EQ(c.predictive.season_s, 86'400);
  EXPECT_EQ(c.predictive.bucket_s, 300);
  EXPECT_DOUBLE_EQ(c.predictive.utilization, 0.8);
  EXPECT_TRUE(c.predictive.learn_capacity);
  EXPECT_EQ(c.slo.ttft_s, 2);
  EXPECT_DOUBLE_EQ(c.slo.attainment, 0.99);
  EXPECT_FALSE(c.static_policy.replicas.has_value());
}

TEST(ScalingConfig, ParsesEveryField) {
  const ScalingConfig c = parse_scaling_config_text(R"(
min_replicas: 0
max_replicas: 20
interval: 5s
policy: predictive
signal: kv_usage
target: 0.7
tolerance: 0.05
headroom: 0.1
scale_up: {stabilization: 30s, percent: 50, pods: 2, period: 1m}
scale_down: {stabilization: 10m, percent: 10, pods: 1, period: 30s}
panic: {enabled: false, threshold: 3, window: 6s, hold: 2m}
slo: {ttft: 500ms, attainment: 0.95}
predictive:
  season: 24h
  bucket: 1m
  alpha: 0.2
  beta: 0.01
  gamma: 0.1
  startup: 2m
  margin: 30s
  utilization: 0.7
  capacity_per_replica: 2.5
  learn_capacity: false
static: {replicas: 4}
)",
                                                    "scaling.yaml");
  EXPECT_EQ(c.min_replicas, 0);
  EXPECT_EQ(c.max_replicas, 20);
  EXPECT_EQ(c.interval_s, 5);
  EXPECT_EQ(c.policy, PolicyKind::Predictive);
  EXPECT_EQ(c.signal, SignalKind::KvUsage);
  EXPECT_DOUBLE_EQ(c.target, 0.7);
  EXPECT_EQ(c.scale_up.stabilization_s, 30);
  EXPECT_EQ(c.scale_up.limit.pods, 2);
  EXPECT_EQ(c.scale_up.limit.period_s, 60);
  EXPECT_EQ(c.scale_down.stabilization_s, 600);
  EXPECT_EQ(c.scale_down.limit.percent, 10);
  EXPECT_FALSE(c.panic.enabled);
  EXPECT_EQ(c.panic.hold_s, 120);
  EXPECT_DOUBLE_EQ(c.slo.ttft_s, 0.5);
  EXPECT_EQ(c.predictive.bucket_s, 60);
  EXPECT_EQ(c.predictive.startup_s, 120);
  EXPECT_DOUBLE_EQ(c.predictive.capacity_rps, 2.5);
  EXPECT_FALSE(c.predictive.learn_capacity);
  EXPECT_EQ(c.static_policy.replicas, 4);
}

TEST(ScalingConfig, TheShippedExampleIsTheDefaultsWithAPolicy) {
  const ScalingConfig c = load_scaling_config(std::string(TIDE_SHARE_DIR) + "/scaling.example.yaml");
  EXPECT_EQ(c.policy, PolicyKind::Predictive);
  EXPECT_EQ(c.static_policy.replicas, 27);
  const ScalingConfig d;
  EXPECT_EQ(c.max_replicas, d.max_replicas);
  EXPECT_EQ(c.scale_down.stabilization_s, d.scale_down.stabilization_s);
  EXPECT_EQ(c.predictive.bucket_s, d.predictive.bucket_s);
  EXPECT_EQ(c.predictive.alpha, d.predictive.alpha);
  EXPECT_EQ(c.predictive.capacity_rps, d.predictive.capacity_rps);
}

TEST(ScalingConfig, RejectsWhatIsNotMeant) {
  expect_error("min_replica: 2\n", "scaling.yaml: min_replica: unknown key");
  expect_error("scale_up: {pod: 2}\n", "scale_up.pod: unknown key");
  expect_error("max_replicas: many\n", "max_replicas: \"many\" is not a non-negative integer");
  expect_error("min_replicas: 5\nmax_replicas: 4\n", "min_replicas: 5 is above max_replicas (4)");
  expect_error("policy: magic\n", "policy: \"magic\" is not one of static, reactive, predictive");
  expect_error("signal: gpu\n", "signal: \"gpu\" is not one of");
  expect_error("signal: kv_usage\n", "target: kv_usage needs a target");
  expect_error("signal: kv_usage\ntarget: 1.5\n", "target: 1.5 is out of range");
  expect_error("headroom: 1\n", "headroom: 1 is out of range");
  expect_error("scale_up: {percent: 0, pods: 0}\n", "scale_up: percent and pods are both 0");
  expect_error("scale_down: {percent: 150}\n", "scale_down.percent: 150 is out of range");
  expect_error("panic: {threshold: 1}\n", "panic.threshold: 1 is out of range");
  expect_error("predictive: {bucket: 7m}\n", "must be a whole number of buckets");
  expect_error("predictive: {utilization: 0}\n", "predictive.utilization: 0 is out of range");
  expect_error("slo: {ttft: soon}\n", "slo.ttft: \"soon\" is not a duration");
  expect_error("static: {replicas: 100}\n", "static.replicas: 100 is outside [min_replicas, max_replicas]");
  expect_error("scale_up: 3\n", "scale_up: expected a mapping");
  expect_error("[1, 2]\n", "expected a mapping");
  expect_error("a: [\n", "malformed YAML");
}

}  // namespace
}  // namespace tide::autoscaler
