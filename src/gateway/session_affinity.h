#pragma once
// session_affinity: requests carrying the same session key (the value of the configured
// header) go to the same endpoint, by consistent hashing of the key. When that endpoint leaves
// the snapshot (gone, ejected, draining) its sessions move to the next endpoints on the ring
// and only they move; when it returns they move back. A request without the header goes to the
// least outstanding endpoint.
#include "gateway/balancer.h"
#include "gateway/hash_ring.h"

namespace tide::gateway {

class SessionAffinityBalancer : public Balancer {
 public:
  explicit SessionAffinityBalancer(SessionAffinityConfig config);
  std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) override;

 private:
  SessionAffinityConfig config_;
  RingCache rings_;
};

}  // namespace tide::gateway
