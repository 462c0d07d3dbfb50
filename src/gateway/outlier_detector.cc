#include "gateway/outlier_detector.h"

#include <algorithm>
#include <set>

namespace tide::gateway {

OutlierDetector::OutlierDetector(OutlierConfig config) : config_(config) {}

int64_t OutlierDetector::slot(Clock::time_point now) const {
  const int64_t bucket_ms = std::max<int64_t>(1, config_.window.count() / kBuckets);
  return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() / bucket_ms;
}

void OutlierDetector::set_endpoints(std::span<const std::string> ids) {
  std::lock_guard lock(mutex_);
  const std::set<std::string, std::less<>> keep(ids.begin(), ids.end());
  std::erase_if(endpoints_, [&](const auto& entry) { return !keep.contains(entry.first); });
  for (const auto& id : keep)
    if (!endpoints_.contains(id)) endpoints_[id].window.resize(kBuckets);
}

void OutlierDetector::expire(Endpoint& e, Clock::time_point now) {
  if (!e.ejected || now < e.ejected_until) return;
  e.ejected = false;
  e.unejected_at = e.ejected_until;
  e.consecutive = 0;
  std::fill(e.window.begin(), e.window.end(), Bucket{});
}

void OutlierDetector::count(Endpoint& e, bool failed, Clock::time_point now) {
  const int64_t s = slot(now);
  Bucket& b = e.window[static_cast<std::size_t>(s % kBuckets)];
  if (b.slot != s) b = {s, 0, 0};
  ++b.requests;
  b.failures += failed;
}

bool OutlierDetector::over_error_rate(const Endpoint& e, Clock::time_point now) const {
  const int64_t s = slot(now);
  uint64_t requests = 0, failures = 0;
  for (const Bucket& b : e.window)
    if (b.slot > s - kBuckets && b.slot <= s) requests += b.requests, failures += b.failures;
  return requests >= config_.min_requests &&
         static_cast<double>(failures) > config_.error_rate * static_cast<double>(requests);
}

void OutlierDetector::maybe_eject(Endpoint& e, Clock::time_point now) {
  std::size_t ejected = 0;
  for (auto& [id, other] : endpoints_) {
    expire(other, now);
    ejected += other.ejected;
  }
  if (ejected > 0 && static_cast<double>(ejected + 1) * 100 > config_.max_ejection_percent * endpoints_.size())
    return;  // the cap holds; the next failure tries again
  const auto base = config_.base_ejection_time;
  if (e.times_ejected > 0) {  // ejected before, so un-ejected since (we are not ejected now)
    const auto healthy_for = now - e.unejected_at;
    const auto decay = static_cast<uint32_t>(std::min<int64_t>(healthy_for / base, e.times_ejected));
    e.times_ejected -= decay;
  }
  ++e.times_ejected;
  const auto length = std::min<std::chrono::milliseconds>(base * e.times_ejected, config_.max_ejection_time);
  e.ejected = true;
  e.ejected_until = now + length;
}

void OutlierDetector::record(std::string_view id, Outcome outcome, Clock::time_point now) {
  if (outcome == Outcome::Overloaded) return;
  std::lock_guard lock(mutex_);
  const auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return;
  Endpoint& e = it->second;
  expire(e, now);
  // Answers of requests sent before the ejection change nothing while it lasts.
  if (e.ejected) return;
  const bool failed = outcome == Outcome::Failure;
  count(e, failed, now);
  if (!failed) {
    e.consecutive = 0;
    return;
  }
  ++e.consecutive;
  const bool streak = config_.consecutive_failures > 0 && e.consecutive >= config_.consecutive_failures;
  if (streak || over_error_rate(e, now)) maybe_eject(e, now);
}

void OutlierDetector::set_ready(std::string_view id, bool ready) {
  std::lock_guard lock(mutex_);
  const auto it = endpoints_.find(id);
  if (it != endpoints_.end()) it->second.ready = ready;
}

EndpointState OutlierDetector::state(std::string_view id, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = endpoints_.find(id);
  if (it == endpoints_.end()) return {};
  expire(it->second, now);
  const Endpoint& e = it->second;
  return {true, e.ready, e.ejected, e.times_ejected, e.ejected_until};
}

bool OutlierDetector::eligible(std::string_view id, Clock::time_point now) {
  const EndpointState s = state(id, now);
  return s.known && s.ready && !s.ejected;
}

PoolHealth OutlierDetector::health(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  PoolHealth h;
  for (auto& [id, e] : endpoints_) {
    expire(e, now);
    ++h.total;
    h.healthy += e.ready && !e.ejected;
  }
  return h;
}

}  // namespace tide::gateway
