#include "autoscaler/control/controller.h"

#include <gtest/gtest.h>

#include <deque>

#include "autoscaler/policy/make_policy.h"
#include "common/error.h"

namespace tide::autoscaler {
namespace {

// Records what it was asked; reports the asked count as ready at once.
class RecordingActuator : public Actuator {
 public:
  int desired = 1;
  std::vector<std::pair<int, std::string>> calls;
  ReplicaCounts observe() override { return {.desired = desired, .ready = desired}; }
  void scale_to(int replicas, const std::string& reason) override {
    calls.emplace_back(replicas, reason);
    desired = replicas;
  }
};

// Signals the test sets tick by tick; an empty optional is a scrape that failed. Every ready
// replica reports, unless a sample says how many did (ready > 0).
class ScriptedSignals : public SignalSource {
 public:
  explicit ScriptedSignals(const RecordingActuator& actuator) : actuator_(actuator) {}
  std::deque<std::optional<PoolSample>> next;
  PoolSample sample(double) override {
    auto s = next.front();
    next.pop_front();
    if (!s) throw Error("connection refused");
    if (s->ready == 0) s->ready = actuator_.desired;
    return *s;
  }

 private:
  const RecordingActuator& actuator_;
};

PoolSample in_flight(double n, int measured = 0) {
  PoolSample s;
  s.in_flight = n;
  s.ready = measured;
  return s;
}

TEST(Controller, ScalesWithThePolicyAndKeepsTheReasons) {
  ScalingConfig config = parse_scaling_config_text(
      "{ min_replicas: 1, max_replicas: 4, target: 2, headroom: 0, panic: { enabled: false }, scale_down: { stabilization: 0s } }",
      "test");
  auto policy = make_policy(config);
  RecordingActuator actuator;
  ScriptedSignals signals(actuator);
  Controller controller("main", signals, *policy, actuator);

  signals.next = {in_flight(8), in_flight(8), in_flight(0.5)};
  controller.tick(0);
  ASSERT_EQ(actuator.calls.size(), 1u);
  EXPECT_EQ(actuator.calls[0].first, 4);
  EXPECT_FALSE(actuator.calls[0].second.empty());
  controller.tick(15);  // 8 over 4 replicas is on target: no change
  EXPECT_EQ(actuator.calls.size(), 1u);
  controller.tick(30);
  ASSERT_EQ(actuator.calls.size(), 2u);
  EXPECT_LT(actuator.calls[1].first, 4);

  const auto snapshot = controller.snapshot();
  ASSERT_EQ(snapshot.changes.size(), 2u);
  EXPECT_EQ(snapshot.changes[0].from, 1);
  EXPECT_EQ(snapshot.changes[0].to, 4);
  EXPECT_EQ(snapshot.changes[1].time_s, 30);
  ASSERT_TRUE(snapshot.sample);
  EXPECT_EQ(snapshot.sample->ready, 4);  // from the actuator, as it stood at that tick
}

TEST(Controller, NeverScalesInWhenSomeReplicasDidNotReport) {
  ScalingConfig config = parse_scaling_config_text(
      "{ min_replicas: 1, max_replicas: 4, target: 2, headroom: 0, panic: { enabled: false }, scale_down: { stabilization: 0s } }",
      "test");
  auto policy = make_policy(config);
  RecordingActuator actuator;
  actuator.desired = 4;
  ScriptedSignals signals(actuator);
  Controller controller("main", signals, *policy, actuator);
  signals.next = {in_flight(1, 2), in_flight(1)};  // two of four answered, light load; then all four
  controller.tick(0);
  EXPECT_TRUE(actuator.calls.empty());
  EXPECT_NE(controller.snapshot().last_reason.find("only 2 of 4 ready replicas reported"), std::string::npos)
      << controller.snapshot().last_reason;
  controller.tick(15);
  ASSERT_EQ(actuator.calls.size(), 1u);
  EXPECT_EQ(actuator.calls[0].first, 1);
}

TEST(Controller, HoldsTheScaleWhileSignalsCannotBeRead) {
  ScalingConfig config = parse_scaling_config_text("{ min_replicas: 1, max_replicas: 4, target: 2 }", "test");
  auto policy = make_policy(config);
  RecordingActuator actuator;
  ScriptedSignals signals(actuator);
  actuator.desired = 3;
  Controller controller("main", signals, *policy, actuator);
  signals.next = {std::nullopt, std::nullopt};
  controller.tick(0);
  controller.tick(15);
  EXPECT_TRUE(actuator.calls.empty()) << "never scaled on missing data";
  const auto snapshot = controller.snapshot();
  EXPECT_NE(snapshot.signal_error.find("connection refused"), std::string::npos);
  EXPECT_EQ(snapshot.counts.desired, 3);
}

}  // namespace
}  // namespace tide::autoscaler
