#pragma once
// A fixed replica count: the baseline the other policies are measured against (sized for the
// peak, it is what a pool without an autoscaler costs).
#include "autoscaler/scaling_policy.h"

namespace tide::autoscaler {

class StaticPolicy final : public ScalingPolicy {
 public:
  explicit StaticPolicy(int replicas) : replicas_(replicas) {}
  ScaleDecision decide(const PoolSample& sample, int current) override;
  std::string_view name() const override { return "static"; }

 private:
  int replicas_;
};

}  // namespace tide::autoscaler
