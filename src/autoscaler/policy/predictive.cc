#include "autoscaler/policy/predictive.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tide::autoscaler {

Predictive::Predictive(const ScalingConfig& config)
    : config_(config.predictive),
      reactive_(config),
      governor_(config),
      forecaster_({.season_s = config.predictive.season_s,
                   .bucket_s = config.predictive.bucket_s,
                   .alpha = config.predictive.alpha,
                   .beta = config.predictive.beta,
                   .gamma = config.predictive.gamma}),
      capacity_(config.predictive.capacity_rps, config.predictive.learn_capacity, config.slo.attainment),
      panic_(config.panic) {}

ScaleDecision Predictive::decide(const PoolSample& s, int current) {
  const Recommendation floor = reactive_.recommend(s, current);
  if (!floor.usable) return {current, floor.reason};
  const bool rate_known = std::isfinite(s.arrival_rate) && s.arrival_rate >= 0;
  if (rate_known) forecaster_.observe(s.time_s, s.arrival_rate);
  capacity_.observe(s);

  const double lookahead_s = config_.startup_s + config_.margin_s;
  const double forecast = forecaster_.forecast_max(s.time_s, s.time_s + lookahead_s);
  const double now_rate = rate_known ? s.arrival_rate : 0;
  const double backlog = std::isfinite(s.waiting) && s.waiting > 0 ? s.waiting / std::max(lookahead_s, 1.0) : 0;
  const double planned = std::max(forecast, now_rate) + backlog;
  const double per_replica = config_.utilization * capacity_.capacity_rps();
  const double replicas = planned / per_replica;
  int predicted = replicas > 0 ? static_cast<int>(std::min(std::ceil(replicas - 1e-9), 1e6)) : 0;  // bounded: see ceil_replicas
  if (predicted == 0 && s.waiting > 0) predicted = 1;

  std::string part = fmt::format("{} {:.1f} req/s by +{:g} s", forecaster_.seasonal() ? "forecast" : "trend", planned,
                                 lookahead_s);
  if (backlog > 0) part += fmt::format(" (incl. {:.0f} waiting)", s.waiting);
  part += fmt::format(" at {:.2f} req/s per replica → {}", per_replica, predicted);
  if (floor.replicas > predicted) part += fmt::format("; reactive floor {} ({})", floor.replicas, floor.reason);
  const bool panicking = panic_.update(s.time_s, planned / per_replica, current, part) || floor.panicking;
  if (floor.panicking && floor.replicas <= predicted) part += "; the reactive signal panics";
  const Governed g = governor_.govern(s.time_s, current, std::max(predicted, floor.replicas), panicking);
  return {g.desired, decision_reason(part, current, g)};
}

}  // namespace tide::autoscaler
