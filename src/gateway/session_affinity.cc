#include "gateway/session_affinity.h"

namespace tide::gateway {

SessionAffinityBalancer::SessionAffinityBalancer(SessionAffinityConfig config)
    : config_(std::move(config)), rings_(config_.virtual_nodes) {}

std::optional<std::size_t> SessionAffinityBalancer::pick(std::span<const EndpointSnapshot> endpoints,
                                                         const RequestInfo& request) {
  if (endpoints.empty()) return std::nullopt;
  if (request.session_key.empty()) return least_outstanding_index(endpoints, request.random);
  const auto ring = rings_.ring(endpoints);
  const auto r = ring->find(hash_bytes(request.session_key), [](std::size_t) { return true; });
  return r ? ring_to_snapshot(*ring, endpoints)[*r] : least_outstanding_index(endpoints, request.random);
}

}  // namespace tide::gateway
