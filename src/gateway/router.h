#pragma once
// Pool selection for one request, in this order:
// 1. Routes are tried in config order; the first whose match holds wins (model equal when
//    given, every listed header equal; header names case-insensitive). A route without a
//    match is a catch-all. No route matching is RouteReason::NoRoute (a 404).
// 2. The route's weighted split picks a pool from the caller's uniform draw in [0, 1): pool i
//    takes draws in [sum of earlier weights, sum including i) / total weight.
// 3. Failover: the chain split pool → its backup → the backup's backup... gives the first pool
//    whose healthy share is at least its failover_threshold. If none meets its threshold, the
//    first with any healthy endpoint (degraded beats down).
// 4. If the whole chain is down, the first fallback configured along the chain, if it has a
//    healthy endpoint. Otherwise RouteReason::AllDown with the split pool named, so the proxy
//    can answer from the response cache or with a 503.
// 5. Mirror: with a second draw, mirror.percent of the route's requests are also sent to the
//    mirror pool (fire and forget), unless that is the chosen pool or it has no healthy
//    endpoint.
// Stateless and thread-safe: randomness and health are passed in.
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/gateway_config.h"
#include "gateway/pool_health.h"

namespace tide::gateway {

struct RouteRequest {
  std::string_view model{};
  std::span<const std::pair<std::string_view, std::string_view>> headers{};  // (name, value)
  double split_draw = 0;   // uniform in [0, 1)
  double mirror_draw = 0;  // uniform in [0, 1), independent of split_draw
};

enum class RouteReason { Primary, Backup, Fallback, AllDown, NoRoute };

struct RouteDecision {
  RouteReason reason = RouteReason::NoRoute;
  std::string route;       // the matching route's name
  std::string split_pool;  // what the split chose, before failover
  std::string pool;        // where to send the request; empty only for NoRoute
  std::optional<std::string> mirror;
};

using PoolHealthMap = std::map<std::string, PoolHealth, std::less<>>;
// A pool's health now, asked only of the pools a decision looks at (a request routed to a
// healthy primary asks once). A pool it does not know of is entirely down.
using PoolHealthOf = std::function<PoolHealth(std::string_view pool)>;

class Router {
 public:
  explicit Router(const GatewayConfig& config);
  RouteDecision route(const RouteRequest& request, const PoolHealthOf& health) const;
  // Pools missing from `health` count as entirely down.
  RouteDecision route(const RouteRequest& request, const PoolHealthMap& health) const;

 private:
  const RouteConfig* match(const RouteRequest& request) const;
  std::string failover(const std::string& primary, const PoolHealthOf& health, RouteReason& reason) const;

  GatewayConfig config_;
};

std::string_view to_string(RouteReason reason);

}  // namespace tide::gateway
