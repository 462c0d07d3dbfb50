#include "gateway/round_robin.h"

namespace tide::gateway {

std::optional<std::size_t> RoundRobinBalancer::pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo&) {
  if (endpoints.empty()) return std::nullopt;
  return next_.fetch_add(1, std::memory_order_relaxed) % endpoints.size();
}

}  // namespace tide::gateway
