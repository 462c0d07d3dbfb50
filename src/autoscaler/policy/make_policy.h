#pragma once
// The policy a scaling config names.
#include <memory>

#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/scaling_policy.h"

namespace tide::autoscaler {

// Throws tide::Error for a static policy without static.replicas.
std::unique_ptr<ScalingPolicy> make_policy(const ScalingConfig& config);

}  // namespace tide::autoscaler
