// Cross-reference checks of a parsed GatewayConfig and host:port parsing: the rules that span
// fields, kept apart from the per-field parsing in gateway_config.cc.
#include <charconv>
#include <set>

#include "common/error.h"
#include "gateway/gateway_config.h"

namespace tide::gateway {

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  if (out.host.empty()) return std::nullopt;
  for (char c : out.host)
    if (c <= ' ' || c == '/' || c == '@' || c == '[' || c == ']' || static_cast<unsigned char>(c) >= 0x7f)
      return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535)
    return std::nullopt;
  out.port = static_cast<uint16_t>(value);
  return out;
}

std::string to_string(const HostPort& address) {
  if (address.host.find(':') != std::string::npos) return "[" + address.host + "]:" + std::to_string(address.port);
  return address.host + ":" + std::to_string(address.port);
}

void validate(const GatewayConfig& config) {
  if (config.pools.empty()) fail("pools: at least one pool is needed");
  std::set<std::string> names;
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    const auto& pool = config.pools[i];
    const std::string path = "pools[" + std::to_string(i) + "]";
    if (pool.name.empty()) fail("{}.name: missing", path);
    if (!names.insert(pool.name).second) fail("{}.name: \"{}\" is used by an earlier pool", path, pool.name);
    if (pool.discovery.kind == DiscoveryKind::Static && pool.discovery.replicas.empty())
      fail("{}.replicas: must list at least one host:port", path);
    if (pool.failover_threshold < 0 || pool.failover_threshold > 1)
      fail("{}.failover_threshold: {} is outside [0, 1]", path, pool.failover_threshold);
    if (pool.outlier.max_ejection_percent < 0 || pool.outlier.max_ejection_percent > 100)
      fail("{}.outlier_detection.max_ejection_percent: {} is outside [0, 100]", path, pool.outlier.max_ejection_percent);
  }
  for (std::size_t i = 0; i < config.pools.size(); ++i) {
    const auto& pool = config.pools[i];
    const std::string path = "pools[" + std::to_string(i) + "]";
    if (!pool.backup.empty()) {
      if (!config.find_pool(pool.backup)) fail("{}.backup: no pool is named \"{}\"", path, pool.backup);
      // Walk the backup chain; meeting a pool twice is a cycle the router would never leave.
      std::set<std::string> seen{pool.name};
      for (const PoolConfig* p = config.find_pool(pool.backup); p; p = p->backup.empty() ? nullptr : config.find_pool(p->backup))
        if (!seen.insert(p->name).second) fail("{}.backup: the backup chain from \"{}\" loops back to \"{}\"", path, pool.name, p->name);
    }
    if (!pool.fallback.empty()) {
      if (!config.find_pool(pool.fallback)) fail("{}.fallback: no pool is named \"{}\"", path, pool.fallback);
      if (pool.fallback == pool.name) fail("{}.fallback: a pool cannot be its own fallback", path);
    }
  }

  std::set<std::string> route_names;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const auto& route = config.routes[i];
    const std::string path = "routes[" + std::to_string(i) + "]";
    if (!route_names.insert(route.name).second) fail("{}.name: \"{}\" is used by an earlier route", path, route.name);
    if (route.split.empty()) fail("{}: needs a pool or a non-empty split", path);
    uint64_t total = 0;
    for (std::size_t j = 0; j < route.split.size(); ++j) {
      if (!config.find_pool(route.split[j].pool))
        fail("{}.split[{}].pool: no pool is named \"{}\"", path, j, route.split[j].pool);
      total += route.split[j].weight;
    }
    if (total == 0) fail("{}.split: weights add up to 0", path);
    if (route.mirror) {
      if (!config.find_pool(route.mirror->pool)) fail("{}.mirror.pool: no pool is named \"{}\"", path, route.mirror->pool);
      if (route.mirror->percent < 0 || route.mirror->percent > 100)
        fail("{}.mirror.percent: {} is outside [0, 100]", path, route.mirror->percent);
    }
  }

  for (std::size_t i = 0; i < config.limits.size(); ++i) {
    const auto& rule = config.limits[i];
    const std::string path = "limits[" + std::to_string(i) + "]";
    if (!rule.key.api_key && !rule.key.user && !rule.key.model) fail("{}.key: names no attribute", path);
    if (rule.requests_per_second < 0 || rule.tokens_per_minute < 0 || rule.burst < 0 || rule.token_burst < 0)
      fail("{}: rates and bursts must not be negative", path);
  }

  std::set<std::string> priorities;
  for (std::size_t i = 0; i < config.admission.queues.size(); ++i)
    if (!priorities.insert(config.admission.queues[i].priority).second)
      fail("admission.queues[{}].priority: \"{}\" is listed twice", i, config.admission.queues[i].priority);
}

}  // namespace tide::gateway
