#include "autoscaler/policy/make_policy.h"

#include "autoscaler/policy/predictive.h"
#include "autoscaler/policy/static_policy.h"
#include "autoscaler/policy/target_tracking.h"
#include "common/error.h"

namespace tide::autoscaler {

std::unique_ptr<ScalingPolicy> make_policy(const ScalingConfig& config) {
  switch (config.policy) {
    case PolicyKind::Static:
      if (!config.static_policy.replicas) fail("static.replicas: required by the static policy");
      return std::make_unique<StaticPolicy>(*config.static_policy.replicas);
    case PolicyKind::Reactive: return std::make_unique<TargetTracking>(config);
    case PolicyKind::Predictive: return std::make_unique<Predictive>(config);
  }
  fail("unknown policy kind");
}

}  // namespace tide::autoscaler
