#pragma once
// round_robin: endpoints in turn. The counter is shared by all threads (one atomic add per
// pick); with a changing snapshot the rotation restarts at an arbitrary point, which is fine.
#include <atomic>

#include "gateway/balancer.h"

namespace tide::gateway {

class RoundRobinBalancer : public Balancer {
 public:
  std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) override;

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace tide::gateway
