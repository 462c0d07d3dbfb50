#include "autoscaler/policy/panic_mode.h"

#include <limits>

#include <fmt/format.h>

namespace tide::autoscaler {

PanicMode::PanicMode(const PanicConfig& config)
    : config_(config), until_s_(-std::numeric_limits<double>::infinity()) {}

bool PanicMode::update(double now_s, double demand, int current, std::string& reason) {
  if (!config_.enabled) return false;
  while (!window_.empty() && window_.front().time_s < now_s - config_.window_s) window_.pop_front();
  window_.push_back({now_s, demand});
  double sum = 0;
  for (const Demand& d : window_) sum += d.replicas;
  const double mean = sum / static_cast<double>(window_.size());
  if (current > 0 && mean >= config_.threshold * current) {
    until_s_ = now_s + config_.hold_s;
    reason += fmt::format("; panic: {:.1f}× the current capacity over the last {:g} s", mean / current, config_.window_s);
    return true;
  }
  if (now_s < until_s_) {
    reason += fmt::format("; panic mode for {:.0f} s more", until_s_ - now_s);
    return true;
  }
  return false;
}

}  // namespace tide::autoscaler
