#pragma once
// How much of a pool can take new requests: what the router's failover decisions read and
// what OutlierDetector::health reports.
#include <cstddef>

namespace tide::gateway {

struct PoolHealth {
  std::size_t total = 0;    // endpoints discovery knows of
  std::size_t healthy = 0;  // of those, ready and not ejected
  double share() const { return total == 0 ? 0.0 : static_cast<double>(healthy) / static_cast<double>(total); }
};

}  // namespace tide::gateway
