#include "gateway/p2c_ewma.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tide::gateway {

std::optional<std::size_t> P2cEwmaBalancer::pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) {
  const std::size_t n = endpoints.size();
  if (n == 0) return std::nullopt;
  if (n == 1) return 0;
  double fastest = std::numeric_limits<double>::infinity();
  for (const auto& e : endpoints)
    if (e.ewma_latency_ms > 0) fastest = std::min(fastest, e.ewma_latency_ms);
  if (!std::isfinite(fastest)) fastest = 1.0;
  const auto cost = [&](std::size_t i) {
    const double latency = endpoints[i].ewma_latency_ms > 0 ? endpoints[i].ewma_latency_ms : fastest;
    return latency * (1.0 + endpoints[i].in_flight);
  };
  const uint64_t r1 = mix64(request.random), r2 = mix64(r1);
  const std::size_t a = r1 % n;
  const std::size_t b = (a + 1 + r2 % (n - 1)) % n;  // distinct from a, uniform over the rest
  return cost(b) < cost(a) ? b : a;
}

}  // namespace tide::gateway
