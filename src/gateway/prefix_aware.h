#pragma once
// prefix_aware: send prompts that share a prefix to the same replica, whose prefix cache then
// already holds that prefix's KV blocks.
//
// 1. The prompt is hashed in blocks (prefix_hash.h), in chars or tokens (block_unit).
// 2. Learned map: which endpoint served which block hashes recently (LRU, learned_entries).
//    The longest prefix found there wins if its endpoint is in the snapshot and not
//    overloaded. This keeps a conversation on one replica as it grows turn by turn.
// 3. Otherwise consistent hashing: the ring key is the hash of the longest prefix of at most
//    max_blocks blocks; the ring walk skips overloaded endpoints (bounded load).
// 4. Every block hash of the prompt is then recorded against the chosen endpoint.
//
// Bounded load ("consistent hashing with bounded loads", Mirrokni et al. 2018): an endpoint
// is overloaded when endpoint_load + 1 > ceil(load_factor × (total load + 1) / endpoints), so
// one hot prefix spills to the next endpoints on the ring instead of swamping one replica.
// Some endpoint always passes (the least loaded is below the average).
//
// An empty prompt has no prefix: it goes to the least loaded endpoint.
#include <list>
#include <mutex>
#include <unordered_map>

#include "gateway/balancer.h"
#include "gateway/hash_ring.h"

namespace tide::gateway {

class PrefixAwareBalancer : public Balancer {
 public:
  explicit PrefixAwareBalancer(PrefixAwareConfig config);
  std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) override;

  std::size_t learned_size() const;
  // The most blocks of one prompt recorded in the learned map: a huge prompt must not flush it.
  static constexpr std::size_t kMaxLearnedBlocks = 256;

 private:
  std::optional<std::string> learned(uint64_t hash);
  void learn(std::span<const uint64_t> hashes, const std::string& id);

  PrefixAwareConfig config_;
  RingCache rings_;
  mutable std::mutex mutex_;  // guards the learned map
  std::list<std::pair<uint64_t, std::string>> lru_;  // most recent first
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, std::string>>::iterator> map_;
};

}  // namespace tide::gateway
