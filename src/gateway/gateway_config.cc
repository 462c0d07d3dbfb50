#include "gateway/gateway_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "common/yaml_fields.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;

// Bounds that no sane deployment reaches; beyond them a value is a typo (an extra zero).
constexpr double kMaxRate = 1e9;
constexpr uint64_t kMaxCount = 1'000'000'000;
constexpr std::size_t kMaxConfigBytes = 4u << 20;

std::string indexed(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

HostPort host_port(const YAML::Node& node, const std::string& path) {
  const std::string text = yaml_scalar(node, path);
  auto parsed = parse_host_port(text);
  if (!parsed) fail("{}: \"{}\" is not host:port", path, text);
  return *parsed;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

ListenConfig parse_listen(YamlFields f) {
  ListenConfig out;
  out.host = f.string("host", out.host);
  if (out.host.empty()) fail("{}: must not be empty", f.field_path("host"));
  out.port = static_cast<uint16_t>(f.integer("port", out.port, 1, 65535));
  out.read_timeout = f.duration("read_timeout", out.read_timeout, 100ms, 1h);
  out.keep_alive_timeout = f.duration("keep_alive_timeout", out.keep_alive_timeout, 100ms, 24h);
  f.finish();
  return out;
}

DiscoveryConfig parse_discovery(YamlFields& f) {
  DiscoveryConfig out;
  const int sources = int(f.has("replicas")) + int(f.has("dns")) + int(f.has("file"));
  if (sources != 1) fail("{}: needs exactly one of replicas, dns or file", f.path());
  if (f.has("replicas")) {
    const YAML::Node list = f.child("replicas");
    const std::string path = f.field_path("replicas");
    require_sequence(list, path);
    if (list.size() == 0) fail("{}: must list at least one host:port", path);
    for (std::size_t i = 0; i < list.size(); ++i) out.replicas.push_back(host_port(list[i], indexed(path, i)));
  } else if (f.has("dns")) {
    out.kind = DiscoveryKind::Dns;
    out.dns = host_port(f.child("dns"), f.field_path("dns"));
  } else {
    out.kind = DiscoveryKind::File;
    out.file = f.string("file", "");
    if (out.file.empty()) fail("{}: must not be empty", f.field_path("file"));
  }
  // Read even when unused so they are not "unknown"; a mismatched one is still an error.
  if (f.has("dns_refresh") && out.kind != DiscoveryKind::Dns)
    fail("{}: applies only to dns discovery", f.field_path("dns_refresh"));
  if (f.has("file_poll") && out.kind != DiscoveryKind::File)
    fail("{}: applies only to file discovery", f.field_path("file_poll"));
  out.dns_refresh = f.duration("dns_refresh", out.dns_refresh, 1s, 24h);
  out.file_poll = f.duration("file_poll", out.file_poll, 100ms, 24h);
  return out;
}

BalancerKind balancer_kind(const std::string& name, const std::string& path) {
  if (name == "round_robin") return BalancerKind::RoundRobin;
  if (name == "least_outstanding") return BalancerKind::LeastOutstanding;
  if (name == "p2c_ewma") return BalancerKind::P2cEwma;
  if (name == "prefix_aware") return BalancerKind::PrefixAware;
  if (name == "session_affinity") return BalancerKind::SessionAffinity;
  fail("{}: \"{}\" is not one of round_robin, least_outstanding, p2c_ewma, prefix_aware, session_affinity", path,
       name);
}

BalancerConfig parse_balancer(const YAML::Node& node, const std::string& path) {
  BalancerConfig out;
  if (!node || node.IsNull()) return out;
  if (node.IsScalar()) {
    out.kind = balancer_kind(node.Scalar(), path);
    return out;
  }
  YamlFields f(node, path);
  if (!f.has("policy")) fail("{}: missing", f.field_path("policy"));
  out.kind = balancer_kind(f.string("policy", ""), f.field_path("policy"));
  if (out.kind == BalancerKind::PrefixAware) {
    auto& p = out.prefix;
    p.block_size = f.integer("block_size", p.block_size, 1, 1 << 20);
    const std::string unit = f.string("block_unit", "chars");
    if (unit == "tokens") p.block_unit = BlockUnit::Tokens;
    else if (unit != "chars") fail("{}: \"{}\" is not chars or tokens", f.field_path("block_unit"), unit);
    p.max_blocks = f.integer("max_blocks", p.max_blocks, 1, 4096);
    p.load_factor = f.number("load_factor", p.load_factor, 1.0, 100.0);
    p.learned_entries = f.integer("learned_entries", p.learned_entries, 0, 100'000'000);
    p.virtual_nodes = f.integer("virtual_nodes", p.virtual_nodes, 1, 10'000);
  } else if (out.kind == BalancerKind::SessionAffinity) {
    out.session.header = lower(f.string("header", out.session.header));
    if (out.session.header.empty()) fail("{}: must not be empty", f.field_path("header"));
    out.session.virtual_nodes = f.integer("virtual_nodes", out.session.virtual_nodes, 1, 10'000);
  }
  f.finish();  // a prefix_aware key under least_outstanding is reported as unknown here
  return out;
}

TimeoutConfig parse_timeouts(YamlFields f) {
  TimeoutConfig out;
  out.connect = f.duration("connect", out.connect, 1ms, 10min);
  out.first_token = f.duration("first_token", out.first_token, 1ms, 24h);
  out.idle = f.duration("idle", out.idle, 1ms, 24h);
  f.finish();
  return out;
}

HealthCheckConfig parse_health(YamlFields f) {
  HealthCheckConfig out;
  out.path = f.string("path", out.path);
  if (out.path.empty() || out.path[0] != '/') fail("{}: \"{}\" must start with /", f.field_path("path"), out.path);
  out.interval = f.duration("interval", out.interval, 100ms, 24h);
  out.timeout = f.duration("timeout", out.timeout, 1ms, 10min);
  f.finish();
  return out;
}

OutlierConfig parse_outlier(YamlFields f) {
  OutlierConfig out;
  out.consecutive_failures = f.integer("consecutive_failures", out.consecutive_failures, 0, 1'000'000);
  out.error_rate = f.number("error_rate", out.error_rate, 1e-6, 1.0);
  out.window = f.duration("window", out.window, 1s, 24h);
  out.min_requests = f.integer("min_requests", out.min_requests, 1, kMaxCount);
  out.base_ejection_time = f.duration("base_ejection_time", out.base_ejection_time, 1ms, 24h);
  out.max_ejection_time = f.duration("max_ejection_time", out.max_ejection_time, 1ms, 7 * 24h);
  out.max_ejection_percent = f.number("max_ejection_percent", out.max_ejection_percent, 0, 100);
  if (out.max_ejection_time < out.base_ejection_time)
    fail("{}: is shorter than base_ejection_time", f.field_path("max_ejection_time"));
  f.finish();
  return out;
}

RetryConfig parse_retry(YamlFields f) {
  RetryConfig out;
  out.max_retries = f.integer("max_retries", out.max_retries, 0, 10);
  out.budget_ratio = f.number("budget_ratio", out.budget_ratio, 0, 10);
  out.min_per_second = f.number("min_per_second", out.min_per_second, 0, kMaxRate);
  out.budget_window = f.duration("window", out.budget_window, 1s, 1h);
  f.finish();
  return out;
}

PoolConfig parse_pool(YamlFields f) {
  PoolConfig out;
  out.name = f.string("name", "");
  if (out.name.empty()) fail("{}: missing", f.field_path("name"));
  out.discovery = parse_discovery(f);
  out.balancer = parse_balancer(f.child("balancer"), f.field_path("balancer"));
  out.timeouts = parse_timeouts(YamlFields(f.child("timeouts"), f.field_path("timeouts")));
  out.health_check = parse_health(YamlFields(f.child("health_check"), f.field_path("health_check")));
  out.outlier = parse_outlier(YamlFields(f.child("outlier_detection"), f.field_path("outlier_detection")));
  out.retry = parse_retry(YamlFields(f.child("retry"), f.field_path("retry")));
  out.backup = f.string("backup", "");
  out.failover_threshold = f.number("failover_threshold", out.failover_threshold, 0, 1);
  out.fallback = f.string("fallback", "");
  f.finish();
  return out;
}

RouteConfig parse_route(YamlFields f, std::size_t index) {
  RouteConfig out;
  out.name = f.string("name", "route" + std::to_string(index));
  YamlFields match(f.child("match"), f.field_path("match"));
  out.model = match.string("model", "");
  YamlFields headers(match.child("headers"), match.field_path("headers"));
  const YAML::Node& header_map = match.child("headers");
  if (header_map.IsMap())
    for (const auto& entry : header_map) {
      const std::string name = yaml_scalar(entry.first, headers.path());
      out.headers.push_back({lower(name), headers.string(name, "")});
    }
  headers.finish();
  match.finish();

  if (f.has("pool") == f.has("split")) fail("{}: needs exactly one of pool or split", f.path());
  if (f.has("pool")) {
    out.split.push_back({f.string("pool", ""), 1});
  } else {
    const YAML::Node list = f.child("split");
    const std::string path = f.field_path("split");
    require_sequence(list, path);
    for (std::size_t i = 0; i < list.size(); ++i) {
      YamlFields item(list[i], indexed(path, i));
      WeightedPool wp;
      wp.pool = item.string("pool", "");
      if (wp.pool.empty()) fail("{}: missing", item.field_path("pool"));
      wp.weight = static_cast<uint32_t>(item.integer("weight", 1, 0, 1'000'000));
      item.finish();
      out.split.push_back(wp);
    }
  }
  if (f.has("mirror")) {
    YamlFields m(f.child("mirror"), f.field_path("mirror"));
    MirrorConfig mirror;
    mirror.pool = m.string("pool", "");
    if (mirror.pool.empty()) fail("{}: missing", m.field_path("pool"));
    mirror.percent = m.number("percent", 100, 0, 100);
    m.finish();
    out.mirror = mirror;
  } else {
    f.child("mirror");
  }
  f.finish();
  return out;
}

LimitKey limit_key(const YAML::Node& node, const std::string& path) {
  // "api_key", "api_key+model", or a list [api_key, model].
  std::vector<std::string> parts;
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) parts.push_back(yaml_scalar(node[i], indexed(path, i)));
  } else {
    std::string text = yaml_scalar(node, path);
    std::size_t start = 0;
    while (true) {
      const std::size_t plus = text.find('+', start);
      parts.push_back(text.substr(start, plus - start));
      if (plus == std::string::npos) break;
      start = plus + 1;
    }
  }
  LimitKey key;
  for (const auto& part : parts) {
    bool* bit = part == "api_key" ? &key.api_key : part == "user" ? &key.user : part == "model" ? &key.model : nullptr;
    if (!bit) fail("{}: \"{}\" is not api_key, user or model", path, part);
    if (*bit) fail("{}: \"{}\" appears twice", path, part);
    *bit = true;
  }
  return key;
}

LimitRule parse_limit(YamlFields f) {
  LimitRule out;
  if (!f.has("key")) fail("{}: missing", f.field_path("key"));
  out.key = limit_key(f.child("key"), f.field_path("key"));
  out.requests_per_second = f.number("requests_per_second", 0, 0, kMaxRate);
  out.burst = f.number("burst", 0, 0, kMaxRate);
  out.tokens_per_minute = f.number("tokens_per_minute", 0, 0, 1e15);
  out.token_burst = f.number("token_burst", 0, 0, 1e15);
  if (out.requests_per_second == 0 && out.tokens_per_minute == 0)
    fail("{}: needs requests_per_second or tokens_per_minute above 0", f.path());
  if (out.burst > 0 && out.requests_per_second == 0)
    fail("{}: burst needs requests_per_second", f.path());
  if (out.token_burst > 0 && out.tokens_per_minute == 0)
    fail("{}: token_burst needs tokens_per_minute", f.path());
  f.finish();
  return out;
}

GatewayConfig parse_root(const YAML::Node& root) {
  GatewayConfig out;
  YamlFields f(root, "");
  out.listen = parse_listen(YamlFields(f.child("listen"), "listen"));

  const YAML::Node pools = f.child("pools");
  require_sequence(pools, "pools");
  if (!pools || pools.size() == 0) fail("pools: at least one pool is needed");
  for (std::size_t i = 0; i < pools.size(); ++i) out.pools.push_back(parse_pool(YamlFields(pools[i], indexed("pools", i))));

  const YAML::Node routes = f.child("routes");
  require_sequence(routes, "routes");
  for (std::size_t i = 0; routes && i < routes.size(); ++i)
    out.routes.push_back(parse_route(YamlFields(routes[i], indexed("routes", i)), i));
  // Without routes everything goes to the first pool: the one-pool config stays one block.
  if (out.routes.empty()) {
    RouteConfig route;
    route.name = "default";
    route.split.push_back({out.pools[0].name, 1});
    out.routes.push_back(route);
  }

  const YAML::Node limits = f.child("limits");
  require_sequence(limits, "limits");
  for (std::size_t i = 0; limits && i < limits.size(); ++i)
    out.limits.push_back(parse_limit(YamlFields(limits[i], indexed("limits", i))));

  {
    YamlFields r(f.child("redis"), "redis");
    out.redis.address = r.string("address", "");
    if (!out.redis.address.empty() && !parse_host_port(out.redis.address))
      fail("redis.address: \"{}\" is not host:port", out.redis.address);
    out.redis.fail_open = r.boolean("fail_open", out.redis.fail_open);
    out.redis.timeout = r.duration("timeout", out.redis.timeout, 1ms, 10s);
    out.redis.connect_timeout = r.duration("connect_timeout", out.redis.connect_timeout, 1ms, 10s);
    out.redis.key_prefix = r.string("key_prefix", out.redis.key_prefix);
    out.redis.pool_size = static_cast<uint32_t>(r.integer("pool_size", out.redis.pool_size, 1, 1024));
    out.redis.reconnect_backoff = r.duration("reconnect_backoff", out.redis.reconnect_backoff, 1ms, 1h);
    out.redis.reconnect_backoff_max = r.duration("reconnect_backoff_max", out.redis.reconnect_backoff_max, 1ms, 1h);
    if (out.redis.reconnect_backoff_max < out.redis.reconnect_backoff)
      fail("redis.reconnect_backoff_max: shorter than reconnect_backoff");
    r.finish();
  }
  {
    YamlFields a(f.child("auth"), "auth");
    out.auth.keys_file = a.string("keys_file", "");
    out.auth.keys_env = a.string("keys_env", "");
    a.finish();
  }
  {
    YamlFields a(f.child("admission"), "admission");
    out.admission.priority_header = lower(a.string("priority_header", out.admission.priority_header));
    const YAML::Node queues = a.child("queues");
    require_sequence(queues, "admission.queues");
    if (queues && queues.size() > 0) {
      out.admission.queues.clear();
      for (std::size_t i = 0; i < queues.size(); ++i) {
        YamlFields q(queues[i], indexed("admission.queues", i));
        PriorityQueueConfig pq;
        pq.priority = q.string("priority", "");
        if (pq.priority.empty()) fail("{}: missing", q.field_path("priority"));
        pq.max_size = static_cast<uint32_t>(q.integer("max_size", pq.max_size, 0, kMaxCount));
        pq.timeout = q.duration("timeout", pq.timeout, 0ms, 1h);
        q.finish();
        out.admission.queues.push_back(pq);
      }
    }
    a.finish();
  }
  {
    YamlFields c(f.child("response_cache"), "response_cache");
    auto& rc = out.response_cache;
    rc.enabled = c.boolean("enabled", rc.enabled);
    rc.max_bytes = c.bytes("max_bytes", rc.max_bytes, 1ull << 40);
    rc.max_entries = c.integer("max_entries", rc.max_entries, 1, 100'000'000);
    rc.ttl = c.duration("ttl", rc.ttl, 1ms, 7 * 24h);
    c.finish();
  }
  f.finish();
  return out;
}

}  // namespace

const PoolConfig* GatewayConfig::find_pool(std::string_view name) const {
  for (const auto& pool : pools)
    if (pool.name == name) return &pool;
  return nullptr;
}

GatewayConfig parse_gateway_config(std::string_view yaml, std::string_view source) {
  if (yaml.size() > kMaxConfigBytes) fail("{}: larger than {} bytes", source, kMaxConfigBytes);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; editors count from 1.
    fail("{}: line {}, column {}: malformed YAML: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (!root || root.IsNull()) fail("{}: empty", source);
  if (!root.IsMap()) fail("{}: expected a mapping at the top level", source);
  GatewayConfig config;
  try {
    config = parse_root(root);
    validate(config);
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  } catch (const YAML::Exception& e) {
    // yaml-cpp can still throw on access (e.g. an alias to an invalid node); never let it out.
    fail("{}: {}", source, e.msg);
  }
  return config;
}

GatewayConfig load_gateway_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_gateway_config(text.str(), path.string());
}

}  // namespace tide::gateway
