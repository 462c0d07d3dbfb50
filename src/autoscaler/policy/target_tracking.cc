#include "autoscaler/policy/target_tracking.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace tide::autoscaler {
namespace {

bool usable_number(double v) { return std::isfinite(v) && v >= 0; }

// The signal's pool-wide total (or, for kv_usage, the mean share) and its per-replica value.
double signal_value(const PoolSample& s, SignalKind kind) {
  switch (kind) {
    case SignalKind::InFlight: return s.in_flight;
    case SignalKind::Waiting: return s.waiting;
    case SignalKind::KvUsage: return s.kv_usage;
    case SignalKind::TokensPerS: return s.tokens_per_s;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

bool has_load(const PoolSample& s) {
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  return positive(s.waiting) || positive(s.arrival_rate) || positive(s.in_flight);
}

// Ceil that ignores floating-point dust: 3.0000000001 replicas are 3.
// Bounded before the cast: an absurd signal (1e300 from a broken query) must scale out to the
// maximum, not wrap to a negative count.
int ceil_replicas(double x) {
  if (!(x > 0)) return 0;
  return static_cast<int>(std::min(std::ceil(x - 1e-9), 1e6));
}

}  // namespace

std::string decision_reason(const std::string& signal_part, int current, const Governed& governed) {
  std::string out = governed.desired == current ? fmt::format("{}: holding {}", signal_part, current)
                                                : fmt::format("{}: {} → {}", signal_part, current, governed.desired);
  if (!governed.why.empty()) out += "; " + governed.why;
  return out;
}

TargetTracking::TargetTracking(const ScalingConfig& config)
    : config_(config), governor_(config), panic_(config.panic) {}

Recommendation TargetTracking::recommend(const PoolSample& s, int current) {
  Recommendation r;
  const std::string_view signal = signal_name(config_.signal);
  const double value = signal_value(s, config_.signal);
  if (!std::isfinite(s.time_s) || s.ready < 0 || s.starting < 0 || !usable_number(value)) {
    r.usable = false;
    r.replicas = current;
    r.reason = fmt::format("no usable signal ({} = {}, ready = {}): holding {}", signal, value, s.ready, current);
    return r;
  }
  const double target = config_.effective_target();
  const std::string target_text =
      config_.headroom > 0 ? fmt::format("target {:g} ({:g} − {:g}% headroom)", target, config_.target, config_.headroom * 100)
                           : fmt::format("target {:g}", target);

  if (s.ready == 0) {
    // No replica reports a metric. Requests waiting or arriving need one replica before any
    // per-replica metric exists; replicas already starting are kept for them. With a signal
    // counted in requests, the queue says how many: each waiting request will be running.
    if (has_load(s)) {
      const bool counts_requests = config_.signal == SignalKind::InFlight || config_.signal == SignalKind::Waiting;
      const int for_queue = counts_requests && std::isfinite(s.waiting) ? ceil_replicas(s.waiting / target) : 0;
      r.replicas = std::max({current, 1, for_queue});
      r.demand = r.replicas;
      r.reason = fmt::format("no ready replica with {:.0f} waiting and {:.2f} req/s arriving", s.waiting, s.arrival_rate);
    } else {
      r.replicas = 0;
      r.reason = "no ready replica and no load";
    }
    return r;
  }

  // kv_usage is already a mean over ready replicas; the others are pool totals.
  const double per_replica = config_.signal == SignalKind::KvUsage ? value : value / s.ready;
  r.demand = s.ready * per_replica / target;
  r.replicas = ceil_replicas(r.demand);
  const double ratio = current > 0 ? r.demand / current : std::numeric_limits<double>::infinity();
  if (std::abs(ratio - 1) <= config_.tolerance) {
    r.replicas = current;
    r.reason = fmt::format("{} {:.3g}/replica within {:g}% of {}", signal, per_replica, config_.tolerance * 100,
                           target_text);
  } else {
    r.reason = fmt::format("{} {:.3g}/replica {} {}", signal, per_replica, ratio > 1 ? ">" : "<", target_text);
  }
  if (r.replicas == 0 && has_load(s)) {
    // Zero is only for a pool with nothing arriving; a trickle keeps one replica.
    r.replicas = 1;
    r.reason += fmt::format(" (keeping one replica: {:.2f} req/s arriving)", s.arrival_rate);
  }
  r.panicking = panic_.update(s.time_s, r.demand, current, r.reason);
  if (r.panicking) r.replicas = std::max(r.replicas, ceil_replicas(r.demand));
  return r;
}

ScaleDecision TargetTracking::decide(const PoolSample& sample, int current) {
  const Recommendation r = recommend(sample, current);
  if (!r.usable) return {current, r.reason};
  const Governed g = governor_.govern(sample.time_s, current, r.replicas, r.panicking);
  return {g.desired, decision_reason(r.reason, current, g)};
}

}  // namespace tide::autoscaler
