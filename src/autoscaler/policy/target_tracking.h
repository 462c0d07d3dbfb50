#pragma once
// The reactive policy, with the Kubernetes HPA's semantics as the baseline an operator knows:
// desired = ceil(ready × metric / target) with the metric per ready replica, no change within
// the tolerance, then the HPA's behavior (ScaleGovernor). Two additions: headroom (the policy
// tracks target × (1 − headroom), so a replica runs below the value the operator named as
// its limit) and Knative's panic mode for bursts. It also scales from zero when requests wait
// with no replica ready, and to zero (with min_replicas 0) only when nothing arrives at all.
#include <string>

#include "autoscaler/policy/panic_mode.h"
#include "autoscaler/policy/scale_governor.h"
#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/scaling_policy.h"

namespace tide::autoscaler {

// What the signal asks for, before stabilization and rate limits.
struct Recommendation {
  bool usable = true;    // false: the sample has no usable signal; hold the current count
  int replicas = 0;
  double demand = 0;     // replicas the signal asks for, unrounded
  bool panicking = false;
  std::string reason;    // the signal's part of the operator's one-liner
};

class TargetTracking final : public ScalingPolicy {
 public:
  explicit TargetTracking(const ScalingConfig& config);

  // The raw recommendation; the predictive policy uses it as its floor. Updates panic state,
  // so call it once per tick.
  Recommendation recommend(const PoolSample& sample, int current);
  ScaleDecision decide(const PoolSample& sample, int current) override;
  std::string_view name() const override { return "reactive"; }

 private:
  ScalingConfig config_;
  ScaleGovernor governor_;
  PanicMode panic_;
};

// The operator's one-liner for a governed decision: "<signal part>: 4 → 6; <what held it>".
std::string decision_reason(const std::string& signal_part, int current, const Governed& governed);

}  // namespace tide::autoscaler
