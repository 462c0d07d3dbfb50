#pragma once
// The control loop of one pool: every tick, read the actuator's counts and a sample of the
// signals, ask the policy for a replica count, and tell the actuator when it differs. The
// same loop drives local processes (`tide up`) and Kubernetes (`tide autoscale`).
//
// When no signal can be read the scale is held (never scaled in on missing data); every
// decision is kept for the operator with its reason.
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "autoscaler/actuator.h"
#include "autoscaler/pool_sample.h"
#include "autoscaler/scaling_policy.h"
#include "autoscaler/signal_source.h"

namespace tide::autoscaler {

struct DecisionRecord {
  double time_s = 0;
  int from = 0;
  int to = 0;
  std::string reason;
};

struct ControllerSnapshot {
  std::optional<PoolSample> sample;  // the newest one read
  ReplicaCounts counts;
  std::string last_reason;           // of the newest decision, acted on or not
  std::string signal_error;          // non-empty while signals cannot be read
  std::deque<DecisionRecord> changes;  // the newest scale changes, oldest first
};

class Controller {
 public:
  Controller(std::string pool, SignalSource& signals, ScalingPolicy& policy, Actuator& actuator);

  // One control step at `now_s` (seconds on the caller's clock).
  void tick(double now_s);
  ControllerSnapshot snapshot() const;
  const std::string& pool() const { return pool_; }
  std::string_view policy_name() const { return policy_.name(); }

 private:
  const std::string pool_;
  SignalSource& signals_;
  ScalingPolicy& policy_;
  Actuator& actuator_;
  mutable std::mutex mutex_;
  ControllerSnapshot snapshot_;
};

}  // namespace tide::autoscaler
