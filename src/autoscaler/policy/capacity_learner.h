#pragma once
// Learns how many requests per second one replica serves within the SLO, starting from the
// configured seed. Only saturated samples say anything about capacity (an idle pool's
// completion rate is its arrival rate): when requests queued (or the KV cache was nearly
// full) at both ends of an interval, with the same replicas ready, completion_rate / ready
// is what a replica delivers at its limit. If the SLO held
// at that point, that throughput is within the SLO and the estimate moves toward it; if the
// SLO was missed, it only moves down. Each step is an EWMA, capped at ±10% of the estimate,
// and the estimate stays within [seed / 4, seed × 4], so one odd sample cannot swing the
// fleet.
#include "autoscaler/pool_sample.h"

namespace tide::autoscaler {

class CapacityLearner {
 public:
  CapacityLearner(double seed_rps, bool enabled, double slo_attainment);

  void observe(const PoolSample& sample);
  double capacity_rps() const { return estimate_; }
  int updates() const { return updates_; }

 private:
  static bool saturated(const PoolSample& s);

  double seed_, estimate_;
  bool enabled_;
  double attainment_target_;
  int updates_ = 0;
  bool previous_saturated_ = false;
  int previous_ready_ = 0;
};

}  // namespace tide::autoscaler
