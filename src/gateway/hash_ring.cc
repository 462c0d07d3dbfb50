#include "gateway/hash_ring.h"

#include <algorithm>

namespace tide::gateway {

HashRing::HashRing(std::vector<std::string> ids, std::size_t virtual_nodes) : ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
  points_.reserve(ids_.size() * virtual_nodes);
  for (uint32_t i = 0; i < ids_.size(); ++i) {
    // A point depends only on the id and its number, never on the other ids: that is what
    // makes the ring consistent.
    const uint64_t base = hash_bytes(ids_[i]);
    for (std::size_t v = 0; v < virtual_nodes; ++v) points_.emplace_back(mix64(base ^ mix64(v)), i);
  }
  std::sort(points_.begin(), points_.end());
}

std::optional<std::size_t> HashRing::find(uint64_t hash, const std::function<bool(std::size_t)>& accept) const {
  if (points_.empty()) return std::nullopt;
  auto start = std::lower_bound(points_.begin(), points_.end(), std::pair<uint64_t, uint32_t>{hash, 0});
  std::vector<bool> offered(ids_.size(), false);
  std::size_t distinct = 0;
  for (std::size_t step = 0; step < points_.size() && distinct < ids_.size(); ++step) {
    auto it = start + static_cast<std::ptrdiff_t>(step);
    if (it >= points_.end()) it -= static_cast<std::ptrdiff_t>(points_.size());
    const uint32_t id = it->second;
    if (offered[id]) continue;
    offered[id] = true;
    ++distinct;
    if (accept(id)) return id;
  }
  return std::nullopt;
}

std::shared_ptr<const HashRing> RingCache::ring(std::span<const EndpointSnapshot> endpoints) {
  std::vector<std::string> ids;
  ids.reserve(endpoints.size());
  for (const auto& e : endpoints) ids.push_back(e.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::lock_guard lock(mutex_);
  auto it = std::find_if(recent_.begin(), recent_.end(), [&](const auto& r) { return r->ids() == ids; });
  if (it == recent_.end()) {
    if (recent_.size() == kRecentRings) recent_.pop_back();
    recent_.insert(recent_.begin(), std::make_shared<const HashRing>(std::move(ids), virtual_nodes_));
  } else {
    std::rotate(recent_.begin(), it, it + 1);
  }
  return recent_.front();
}

std::vector<std::size_t> ring_to_snapshot(const HashRing& ring, std::span<const EndpointSnapshot> endpoints) {
  std::vector<std::size_t> out(ring.ids().size(), 0);
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const auto& ids = ring.ids();
    const auto it = std::lower_bound(ids.begin(), ids.end(), endpoints[i].id);
    if (it != ids.end() && *it == endpoints[i].id) out[static_cast<std::size_t>(it - ids.begin())] = i;
  }
  return out;
}

}  // namespace tide::gateway
