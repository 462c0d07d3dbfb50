#include "gateway/prefix_aware.h"

#include <algorithm>
#include <cmath>

#include "gateway/prefix_hash.h"

namespace tide::gateway {

PrefixAwareBalancer::PrefixAwareBalancer(PrefixAwareConfig config) : config_(config), rings_(config.virtual_nodes) {}

std::optional<std::string> PrefixAwareBalancer::learned(uint64_t hash) {
  std::lock_guard lock(mutex_);
  const auto it = map_.find(hash);
  if (it == map_.end()) return std::nullopt;
  return it->second->second;
}

void PrefixAwareBalancer::learn(std::span<const uint64_t> hashes, const std::string& id) {
  if (config_.learned_entries == 0) return;
  std::lock_guard lock(mutex_);
  for (uint64_t h : hashes) {
    const auto it = map_.find(h);
    if (it != map_.end()) {
      it->second->second = id;
      lru_.splice(lru_.begin(), lru_, it->second);
      continue;
    }
    lru_.emplace_front(h, id);
    map_.emplace(h, lru_.begin());
    if (map_.size() > config_.learned_entries) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
}

std::size_t PrefixAwareBalancer::learned_size() const {
  std::lock_guard lock(mutex_);
  return map_.size();
}

std::optional<std::size_t> PrefixAwareBalancer::pick(std::span<const EndpointSnapshot> endpoints,
                                                     const RequestInfo& request) {
  if (endpoints.empty()) return std::nullopt;
  const std::size_t depth = std::max(config_.max_blocks, config_.learned_entries > 0 ? kMaxLearnedBlocks : 0);
  const bool tokens = config_.block_unit == BlockUnit::Tokens && !request.prompt_tokens.empty();
  const std::vector<uint64_t> hashes = tokens ? prefix_block_hashes(request.prompt_tokens, config_.block_size, depth)
                                              : prefix_block_hashes(request.prompt, config_.block_size, depth);
  if (hashes.empty()) return least_outstanding_index(endpoints, request.random);

  double total = 0;
  for (const auto& e : endpoints) total += endpoint_load(e);
  const double capacity = std::ceil(config_.load_factor * (total + 1) / static_cast<double>(endpoints.size()));
  const auto fits = [&](std::size_t i) { return endpoint_load(endpoints[i]) + 1 <= capacity; };

  std::optional<std::size_t> chosen;
  if (config_.learned_entries > 0) {
    for (std::size_t d = hashes.size(); d-- > 0 && !chosen;) {
      const auto id = learned(hashes[d]);
      if (!id) continue;
      for (std::size_t i = 0; i < endpoints.size(); ++i)
        if (endpoints[i].id == *id && fits(i)) chosen = i;
    }
  }
  if (!chosen) {
    const auto ring = rings_.ring(endpoints);
    const auto to_snapshot = ring_to_snapshot(*ring, endpoints);
    const uint64_t key = hashes[std::min(hashes.size(), config_.max_blocks) - 1];
    const auto r = ring->find(key, [&](std::size_t id) { return fits(to_snapshot[id]); });
    // find() cannot fail (the least loaded endpoint fits), but never trust arithmetic on doubles.
    chosen = r ? to_snapshot[*r] : least_outstanding_index(endpoints, request.random);
  }
  learn(std::span(hashes).first(std::min(hashes.size(), kMaxLearnedBlocks)), endpoints[*chosen].id);
  return chosen;
}

}  // namespace tide::gateway
