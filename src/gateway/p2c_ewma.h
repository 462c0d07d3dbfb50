#pragma once
// p2c_ewma: power of two choices. Two distinct endpoints are drawn at random and the one with
// the lower cost ewma_latency_ms × (1 + in_flight) wins (Finagle's "peak EWMA" shape): cheap,
// needs no global scan, and avoids the herd behaviour of always taking the global minimum of a
// stale measurement. An endpoint not measured yet is costed at the fastest measured latency,
// so new replicas get traffic and a measurement.
#include "gateway/balancer.h"

namespace tide::gateway {

class P2cEwmaBalancer : public Balancer {
 public:
  std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) override;
};

}  // namespace tide::gateway
