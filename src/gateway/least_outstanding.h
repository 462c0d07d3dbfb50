#pragma once
// least_outstanding: the endpoint with the fewest requests in flight from this gateway, ties
// broken by the request's random draw (always taking the first tie would pile a burst of
// simultaneous requests onto one replica).
#include "gateway/balancer.h"

namespace tide::gateway {

class LeastOutstandingBalancer : public Balancer {
 public:
  std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) override;
};

}  // namespace tide::gateway
