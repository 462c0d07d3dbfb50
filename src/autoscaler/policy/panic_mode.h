#pragma once
// Knative's panic mode: when the demand averaged over a short window reaches `threshold` ×
// the current count, the pool panics: scale up at once (no rate limit) and never down until
// `hold_s` passes without the condition. Each policy feeds it its own demand estimate (the
// reactive one from its signal, the predictive one from the arrival rate).
#include <deque>
#include <string>

#include "autoscaler/policy/scaling_config.h"

namespace tide::autoscaler {

class PanicMode {
 public:
  explicit PanicMode(const PanicConfig& config);

  // `demand` in replicas. Returns whether the pool panics now; appends why to `reason`.
  bool update(double now_s, double demand, int current, std::string& reason);

 private:
  struct Demand {
    double time_s;
    double replicas;
  };
  PanicConfig config_;
  std::deque<Demand> window_;
  double until_s_;
};

}  // namespace tide::autoscaler
