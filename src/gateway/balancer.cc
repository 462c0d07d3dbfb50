#include "gateway/balancer.h"

#include <algorithm>

#include "gateway/least_outstanding.h"
#include "gateway/p2c_ewma.h"
#include "gateway/prefix_aware.h"
#include "gateway/round_robin.h"
#include "gateway/session_affinity.h"

namespace tide::gateway {

double endpoint_load(const EndpointSnapshot& e) {
  return std::max<double>(e.in_flight, static_cast<double>(e.running) + e.waiting);
}

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_bytes(std::string_view bytes, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ mix64(seed);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return mix64(h);
}

std::size_t least_outstanding_index(std::span<const EndpointSnapshot> endpoints, uint64_t random) {
  uint32_t best = UINT32_MAX;
  std::size_t ties = 0, chosen = 0;
  // One pass, reservoir-sampling among the ties so each is equally likely.
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].in_flight > best) continue;
    if (endpoints[i].in_flight < best) {
      best = endpoints[i].in_flight;
      ties = 0;
    }
    ++ties;
    random = mix64(random);
    if (random % ties == 0) chosen = i;
  }
  return chosen;
}

std::unique_ptr<Balancer> make_balancer(const BalancerConfig& config) {
  switch (config.kind) {
    case BalancerKind::RoundRobin: return std::make_unique<RoundRobinBalancer>();
    case BalancerKind::LeastOutstanding: return std::make_unique<LeastOutstandingBalancer>();
    case BalancerKind::P2cEwma: return std::make_unique<P2cEwmaBalancer>();
    case BalancerKind::PrefixAware: return std::make_unique<PrefixAwareBalancer>(config.prefix);
    case BalancerKind::SessionAffinity: return std::make_unique<SessionAffinityBalancer>(config.session);
  }
  return std::make_unique<LeastOutstandingBalancer>();
}

}  // namespace tide::gateway
