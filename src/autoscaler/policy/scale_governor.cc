#include "autoscaler/policy/scale_governor.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tide::autoscaler {

ScaleGovernor::ScaleGovernor(const ScalingConfig& config)
    : min_(config.min_replicas), max_(config.max_replicas), up_(config.scale_up), down_(config.scale_down) {}

// HPA: the period starts from the count before this period's scale-ups; the most permissive
// policy wins (selectPolicy: Max).
int ScaleGovernor::up_limit(double now_s, int current) const {
  int added = 0;
  for (const Change& c : changes_)
    if (c.delta > 0 && c.time_s > now_s - up_.limit.period_s) added += c.delta;
  const int start = std::max(0, current - added);
  const int by_percent = static_cast<int>(std::ceil(start * (1 + up_.limit.percent / 100) - 1e-9));
  return std::max(by_percent, start + up_.limit.pods);
}

int ScaleGovernor::down_limit(double now_s, int current) const {
  int removed = 0;
  for (const Change& c : changes_)
    if (c.delta < 0 && c.time_s > now_s - down_.limit.period_s) removed -= c.delta;
  const int start = current + removed;
  const int by_percent = static_cast<int>(std::ceil(start * (1 - down_.limit.percent / 100) - 1e-9));
  return std::max(0, std::min(by_percent, start - down_.limit.pods));
}

Governed ScaleGovernor::govern(double now_s, int current, int recommendation, bool panicking) {
  const int raw = recommendation;
  recommendation = std::clamp(recommendation, min_, max_);
  const double keep_s = std::max(up_.stabilization_s, down_.stabilization_s);
  while (!recommendations_.empty() && recommendations_.front().time_s < now_s - keep_s) recommendations_.pop_front();
  // A fresh controller takes the running count as recommended for the down window, so a
  // restart never scales down at once (the HPA, with no history, would).
  if (first_) recommendations_.push_back({now_s, current, true});
  first_ = false;
  recommendations_.push_back({now_s, recommendation, false});

  // As the HPA: the recommendations made after the window's start, and always the newest.
  int up_rec = recommendation, down_rec = recommendation;
  for (const Recommendation& r : recommendations_) {
    if (!r.down_only && r.time_s > now_s - up_.stabilization_s) up_rec = std::min(up_rec, r.replicas);
    if (r.time_s > now_s - down_.stabilization_s) down_rec = std::max(down_rec, r.replicas);
  }

  Governed out{current, raw != recommendation ? fmt::format("clamped to [{}, {}]", min_, max_) : ""};
  if (panicking) {
    // Panic acts on the newest recommendation at once and never gives replicas back.
    out.desired = std::max(current, recommendation);
    if (recommendation < current) out.why = fmt::format("panic mode holds {} (no scale-down while panicking)", current);
  } else {
    if (out.desired < up_rec) out.desired = up_rec;
    if (out.desired > down_rec) out.desired = down_rec;
    if (recommendation < current && out.desired > recommendation)
      out.why = fmt::format("scale-down held at {} by the highest recommendation of the last {:g} s", out.desired,
                            down_.stabilization_s);
    if (recommendation > current && out.desired < recommendation)
      out.why = fmt::format("scale-up held at {} by the lowest recommendation of the last {:g} s", out.desired,
                            up_.stabilization_s);
    if (out.desired > current) {
      const int limit = up_limit(now_s, current);
      if (out.desired > limit) {
        out.desired = std::max(current, limit);
        out.why = fmt::format("scale-up limited to {} (at most +{:g}% or +{} per {:g} s)", out.desired,
                              up_.limit.percent, up_.limit.pods, up_.limit.period_s);
      }
    } else if (out.desired < current) {
      const int limit = down_limit(now_s, current);
      if (out.desired < limit) {
        out.desired = std::min(current, limit);
        out.why = fmt::format("scale-down limited to {} (at most -{:g}% or -{} per {:g} s)", out.desired,
                              down_.limit.percent, down_.limit.pods, down_.limit.period_s);
      }
    }
  }
  // Bounds win over everything, as in the HPA: a pool outside them moves straight inside.
  const int bounded = std::clamp(out.desired, min_, max_);
  if (bounded != out.desired) {
    out.why = fmt::format("clamped to [{}, {}]", min_, max_);
    out.desired = bounded;
  }

  const double period_s = std::max(up_.limit.period_s, down_.limit.period_s);
  while (!changes_.empty() && changes_.front().time_s <= now_s - period_s) changes_.pop_front();
  if (out.desired != current) changes_.push_back({now_s, out.desired - current});
  return out;
}

}  // namespace tide::autoscaler
