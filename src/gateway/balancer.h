#pragma once
// Load balancing: choosing one endpoint of a pool for a request. Each policy is one class
// behind Balancer (make_balancer picks it from the pool's config); all of them see only a
// snapshot of the pool's eligible endpoints, so health, outlier ejection and draining are
// decided before a balancer is asked, and a retry simply leaves the tried endpoint out.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gateway/gateway_config.h"

namespace tide::gateway {

struct EndpointSnapshot {
  std::string id{};           // stable across snapshots, e.g. "10.0.0.1:8000"
  uint32_t in_flight = 0;     // requests this gateway has outstanding there
  uint32_t running = 0;       // scraped from the replica's /metrics
  uint32_t waiting = 0;       // scraped
  double kv_usage = 0;        // scraped, 0..1
  double ewma_latency_ms = 0; // the gateway's EWMA of time to first token; 0: not measured yet
};

struct RequestInfo {
  std::string_view prompt{};               // the rendered prompt text, for prefix_aware in chars
  std::span<const int32_t> prompt_tokens{};// for prefix_aware in tokens; may be empty
  std::string_view session_key{};          // the session_affinity header's value
  uint64_t random = 0;  // a uniform draw from the caller: the only randomness a balancer uses
};

// An endpoint's load as the bounded-load check sees it: the larger of what this gateway has
// outstanding there and what the replica last reported (running + waiting), so traffic from
// other gateways counts too, while a stale scrape cannot hide this gateway's own requests.
double endpoint_load(const EndpointSnapshot& endpoint);

class Balancer {
 public:
  virtual ~Balancer() = default;
  // The index into `endpoints` of the chosen endpoint; nullopt only when `endpoints` is empty.
  // Thread-safe: one balancer serves a pool for every request thread.
  virtual std::optional<std::size_t> pick(std::span<const EndpointSnapshot> endpoints, const RequestInfo& request) = 0;
};

std::unique_ptr<Balancer> make_balancer(const BalancerConfig& config);

// splitmix64: turns one random draw (or one hash) into a well-mixed next value.
uint64_t mix64(uint64_t x);
// FNV-1a followed by mix64; FNV alone spreads near-identical strings ("h:1#0", "h:1#1") badly.
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);

// Among the endpoints with the fewest in-flight requests, one chosen by `random`.
std::size_t least_outstanding_index(std::span<const EndpointSnapshot> endpoints, uint64_t random);

}  // namespace tide::gateway
