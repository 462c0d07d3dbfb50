#include "autoscaler/control/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"

namespace tide::autoscaler {
namespace {
constexpr std::size_t kChangesKept = 20;
}

Controller::Controller(std::string pool, SignalSource& signals, ScalingPolicy& policy, Actuator& actuator)
    : pool_(std::move(pool)), signals_(signals), policy_(policy), actuator_(actuator) {}

void Controller::tick(double now_s) {
  const ReplicaCounts counts = actuator_.observe();
  PoolSample sample;
  try {
    sample = signals_.sample(now_s);
  } catch (const Error& e) {
    std::lock_guard lock(mutex_);
    if (snapshot_.signal_error.empty())
      spdlog::warn("pool {}: cannot read signals ({}); holding {} replica(s)", pool_, e.what(), counts.desired);
    snapshot_.signal_error = e.what();
    snapshot_.counts = counts;
    return;
  }
  // The source counts the replicas whose load it measured; per-replica averages are over those.
  // Replicas serving but not measured (a /metrics scrape timed out on a saturated replica) may
  // carry any load, so a sample missing some never scales in — as the HPA treats missing pods.
  const int measured = std::min(sample.ready, counts.ready);
  sample.time_s = now_s;
  sample.ready = measured;
  sample.starting = counts.starting;
  // The policy sees what the actuator is working towards: replicas already asked for count,
  // so a slow start is not asked for twice.
  const int current = counts.desired;
  ScaleDecision decision = policy_.decide(sample, current);
  if (measured < counts.ready && decision.desired < current) {
    decision.reason = fmt::format("holding {}: only {} of {} ready replicas reported their load ({})", current,
                                  measured, counts.ready, decision.reason);
    decision.desired = current;
  }
  if (decision.desired != current) actuator_.scale_to(decision.desired, decision.reason);

  std::lock_guard lock(mutex_);
  if (!snapshot_.signal_error.empty()) spdlog::info("pool {}: signals readable again", pool_);
  snapshot_.signal_error.clear();
  snapshot_.sample = sample;
  snapshot_.counts = counts;
  snapshot_.last_reason = decision.reason;
  if (decision.desired != current) {
    snapshot_.changes.push_back({now_s, current, decision.desired, decision.reason});
    if (snapshot_.changes.size() > kChangesKept) snapshot_.changes.pop_front();
  }
}

ControllerSnapshot Controller::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

}  // namespace tide::autoscaler
