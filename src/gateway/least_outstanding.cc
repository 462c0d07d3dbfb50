#include "gateway/least_outstanding.h"

namespace tide::gateway {

std::optional<std::size_t> LeastOutstandingBalancer::pick(std::span<const EndpointSnapshot> endpoints,
                                                          const RequestInfo& request) {
  if (endpoints.empty()) return std::nullopt;
  return least_outstanding_index(endpoints, request.random);
}

}  // namespace tide::gateway
