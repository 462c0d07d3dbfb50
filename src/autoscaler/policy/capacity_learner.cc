#include "autoscaler/policy/capacity_learner.h"

#include <algorithm>
#include <cmath>

namespace tide::autoscaler {
namespace {

constexpr double kWeight = 0.2;       // EWMA weight of one saturated sample
constexpr double kMaxStep = 0.1;      // at most ±10% per sample
constexpr double kBound = 4;          // the estimate stays within [seed / 4, seed × 4]
constexpr double kFullKvCache = 0.9;  // mean KV usage at which a replica admits no more

}  // namespace

CapacityLearner::CapacityLearner(double seed_rps, bool enabled, double slo_attainment)
    : seed_(seed_rps), estimate_(seed_rps), enabled_(enabled), attainment_target_(slo_attainment) {}

bool CapacityLearner::saturated(const PoolSample& s) {
  return (std::isfinite(s.waiting) && s.waiting >= 1) || (std::isfinite(s.kv_usage) && s.kv_usage >= kFullKvCache);
}

void CapacityLearner::observe(const PoolSample& s) {
  // Saturated at both ends of the interval with the same replicas ready: every replica was
  // busy throughout it, so the completions are what they can deliver.
  const bool throughout = saturated(s) && previous_saturated_ && s.ready == previous_ready_;
  previous_saturated_ = saturated(s);
  previous_ready_ = s.ready;
  if (!enabled_ || !throughout || s.ready <= 0 || !std::isfinite(s.completion_rate) || s.completion_rate <= 0) return;
  if (!std::isfinite(s.slo_attainment)) return;
  const double observed = s.completion_rate / s.ready;
  const bool met = s.slo_attainment >= attainment_target_;
  if (!met && observed >= estimate_) return;
  const double step = std::clamp(kWeight * (observed - estimate_), -kMaxStep * estimate_, kMaxStep * estimate_);
  estimate_ = std::clamp(estimate_ + step, seed_ / kBound, seed_ * kBound);
  ++updates_;
}

}  // namespace tide::autoscaler
