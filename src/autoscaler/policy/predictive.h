#pragma once
// The predictive policy: plan for the arrival rate a replica started now will meet when it is
// ready. It forecasts the arrival rate with Holt-Winters (daily season), takes the highest
// forecast until now + start-up + margin (never below the rate arriving now), adds what clears
// the current queue by then, and divides by the load one replica should carry:
//   desired = ceil((forecast + waiting / lookahead) / (utilization × capacity_per_replica))
// The reactive recommendation is its floor, so a surprise the forecast misses is still met as
// the HPA would meet it; scale-down goes through the same stabilization window. Panic mode
// watches the planned demand too, so a sudden surge of arrivals skips the scale-up rate limit.
#include "autoscaler/policy/capacity_learner.h"
#include "autoscaler/policy/holt_winters.h"
#include "autoscaler/policy/panic_mode.h"
#include "autoscaler/policy/scale_governor.h"
#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/policy/target_tracking.h"
#include "autoscaler/scaling_policy.h"

namespace tide::autoscaler {

class Predictive final : public ScalingPolicy {
 public:
  explicit Predictive(const ScalingConfig& config);

  ScaleDecision decide(const PoolSample& sample, int current) override;
  std::string_view name() const override { return "predictive"; }

  const HoltWinters& forecaster() const { return forecaster_; }
  const CapacityLearner& capacity() const { return capacity_; }

 private:
  PredictiveConfig config_;
  TargetTracking reactive_;
  ScaleGovernor governor_;
  HoltWinters forecaster_;
  CapacityLearner capacity_;
  PanicMode panic_;  // on the planned demand, which (unlike a running count) never saturates
};

}  // namespace tide::autoscaler
