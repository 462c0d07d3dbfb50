#include "gateway/router.h"

#include <algorithm>

namespace tide::gateway {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

}  // namespace

std::string_view to_string(RouteReason reason) {
  switch (reason) {
    case RouteReason::Primary: return "primary";
    case RouteReason::Backup: return "backup";
    case RouteReason::Fallback: return "fallback";
    case RouteReason::AllDown: return "all_down";
    case RouteReason::NoRoute: return "no_route";
  }
  return "unknown";
}

Router::Router(const GatewayConfig& config) : config_(config) { validate(config_); }

const RouteConfig* Router::match(const RouteRequest& request) const {
  for (const auto& route : config_.routes) {
    if (!route.model.empty() && route.model != request.model) continue;
    const bool headers_hold = std::all_of(route.headers.begin(), route.headers.end(), [&](const HeaderMatch& m) {
      return std::any_of(request.headers.begin(), request.headers.end(),
                         [&](const auto& h) { return iequal(h.first, m.name) && h.second == m.value; });
    });
    if (headers_hold) return &route;
  }
  return nullptr;
}

std::string Router::failover(const std::string& primary, const PoolHealthOf& health, RouteReason& reason) const {
  // The first pool along primary → backup → ... that `wanted` accepts, and its place there.
  // validate() rejected cycles; the length bound is a second guard for a config edited later.
  const auto along_chain = [&](auto wanted) -> std::pair<const PoolConfig*, std::size_t> {
    std::size_t i = 0;
    for (const PoolConfig* p = config_.find_pool(primary); p && i <= config_.pools.size(); ++i) {
      if (wanted(*p)) return {p, i};
      p = p->backup.empty() ? nullptr : config_.find_pool(p->backup);
    }
    return {nullptr, 0};
  };
  const auto picked = [&](std::pair<const PoolConfig*, std::size_t> at) {
    reason = at.second == 0 ? RouteReason::Primary : RouteReason::Backup;
    return at.first->name;
  };
  if (const auto at = along_chain([&](const PoolConfig& p) {
        const PoolHealth h = health(p.name);
        return h.healthy > 0 && h.share() >= p.failover_threshold;
      });
      at.first)
    return picked(at);
  if (const auto at = along_chain([&](const PoolConfig& p) { return health(p.name).healthy > 0; }); at.first)
    return picked(at);
  // Only the first fallback along the chain is used.
  if (const auto at = along_chain([](const PoolConfig& p) { return !p.fallback.empty(); });
      at.first && health(at.first->fallback).healthy > 0) {
    reason = RouteReason::Fallback;
    return at.first->fallback;
  }
  reason = RouteReason::AllDown;
  return primary;
}

RouteDecision Router::route(const RouteRequest& request, const PoolHealthMap& health) const {
  return route(request, [&health](std::string_view pool) {
    const auto it = health.find(pool);
    return it == health.end() ? PoolHealth{} : it->second;
  });
}

RouteDecision Router::route(const RouteRequest& request, const PoolHealthOf& health) const {
  RouteDecision out;
  const RouteConfig* route = match(request);
  if (!route) return out;
  out.route = route->name;

  uint64_t total = 0;
  for (const auto& wp : route->split) total += wp.weight;
  const double draw = std::clamp(request.split_draw, 0.0, 1.0);
  const double point = draw * static_cast<double>(total);
  uint64_t cumulative = 0;
  out.split_pool = route->split.back().pool;  // a draw of exactly 1.0 lands here
  for (const auto& wp : route->split) {
    cumulative += wp.weight;
    if (point < static_cast<double>(cumulative)) {
      out.split_pool = wp.pool;
      break;
    }
  }
  out.pool = failover(out.split_pool, health, out.reason);

  if (route->mirror && request.mirror_draw * 100.0 < route->mirror->percent && route->mirror->pool != out.pool &&
      health(route->mirror->pool).healthy > 0)
    out.mirror = route->mirror->pool;
  return out;
}

}  // namespace tide::gateway
