#pragma once
// A scaling policy turns the pool's recent samples into a desired replica count, and says why.
// Policies are pure: no clocks, no I/O (time comes with each sample), so the simulator and the
// live controller run the very same code.
#include <memory>
#include <string>
#include <string_view>

#include "autoscaler/pool_sample.h"

namespace tide::autoscaler {

struct ScaleDecision {
  int desired = 0;
  std::string reason;  // one line for the operator: "in_flight 9.5/replica > target 4 (+20% headroom): 2 → 3"
};

class ScalingPolicy {
 public:
  virtual ~ScalingPolicy() = default;
  // Called once per control tick with the newest sample; `current` is the count the actuator
  // is working towards (its desired count, as the HPA reads spec.replicas): replicas already
  // asked for but still starting are not asked for twice.
  virtual ScaleDecision decide(const PoolSample& sample, int current) = 0;
  virtual std::string_view name() const = 0;
};

}  // namespace tide::autoscaler
