#include "autoscaler/policy/static_policy.h"

#include <fmt/format.h>

namespace tide::autoscaler {

ScaleDecision StaticPolicy::decide(const PoolSample&, int current) {
  if (current == replicas_) return {replicas_, fmt::format("static: holding {}", replicas_)};
  return {replicas_, fmt::format("static: {} → {}", current, replicas_)};
}

}  // namespace tide::autoscaler
