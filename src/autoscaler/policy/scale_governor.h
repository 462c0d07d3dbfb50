#pragma once
// Turns a policy's raw recommendation into the count to ask for, with the Kubernetes HPA's
// behavior semantics: clamp to [min, max], stabilize (scale up to the lowest recommendation of
// the up window, down to the highest of the down window), then rate-limit each direction by
// its percent/pods policies per period. Panic skips the up limit and forbids scaling down.
// Every policy that recommends replica counts shares this, so they differ only in what they
// recommend.
#include <deque>
#include <string>

#include "autoscaler/policy/scaling_config.h"

namespace tide::autoscaler {

struct Governed {
  int desired = 0;
  std::string why;  // empty when the recommendation passed unchanged; else what held it
};

class ScaleGovernor {
 public:
  explicit ScaleGovernor(const ScalingConfig& config);

  // `current` is ready + starting; `recommendation` the policy's raw count for `now_s`.
  Governed govern(double now_s, int current, int recommendation, bool panicking);

 private:
  struct Recommendation {
    double time_s;
    int replicas;
    bool down_only;  // the count found at start-up, not a recommendation
  };
  struct Change {
    double time_s;
    int delta;
  };
  int up_limit(double now_s, int current) const;
  int down_limit(double now_s, int current) const;

  int min_, max_;
  ScaleBehavior up_, down_;
  std::deque<Recommendation> recommendations_;
  std::deque<Change> changes_;
  bool first_ = true;
};

}  // namespace tide::autoscaler
