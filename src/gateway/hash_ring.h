#pragma once
// Consistent hashing: a ring of `virtual_nodes` points per endpoint id. A key belongs to the
// first point clockwise from its hash; adding or removing one endpoint of n moves only about
// 1/n of the keys (those between its points and their predecessors), which is what keeps
// prefix caches and sessions warm while a pool scales.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/balancer.h"

namespace tide::gateway {

class HashRing {
 public:
  HashRing(std::vector<std::string> ids, std::size_t virtual_nodes);

  // Walks clockwise from `hash`, offering each distinct endpoint (an index into ids()) to
  // `accept` in ring order; returns the first accepted, or nullopt when none is.
  std::optional<std::size_t> find(uint64_t hash, const std::function<bool(std::size_t)>& accept) const;
  const std::vector<std::string>& ids() const { return ids_; }  // sorted

 private:
  std::vector<std::string> ids_;
  std::vector<std::pair<uint64_t, uint32_t>> points_;  // (hash, id index), sorted by hash
};

// The ring for a snapshot, built once per set of endpoint ids. A few recent rings are kept
// because snapshots alternate (a retry leaves the tried endpoint out, an ejection comes and
// goes) and a rebuild sorts every virtual node. Thread-safe; a returned ring stays valid while
// held even after it leaves the cache.
class RingCache {
 public:
  explicit RingCache(std::size_t virtual_nodes) : virtual_nodes_(virtual_nodes) {}
  std::shared_ptr<const HashRing> ring(std::span<const EndpointSnapshot> endpoints);

 private:
  std::size_t virtual_nodes_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<const HashRing>> recent_;  // most recently used first
  static constexpr std::size_t kRecentRings = 8;
};

// For each ring id index, the index of that endpoint in `endpoints`.
std::vector<std::size_t> ring_to_snapshot(const HashRing& ring, std::span<const EndpointSnapshot> endpoints);

}  // namespace tide::gateway
