#include "gateway/gateway_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;

// The error message of parsing `yaml`, or "" when it parses.
std::string error_of(const std::string& yaml) {
  try {
    parse_gateway_config(yaml, "gw.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The failure message shows the whole config and error, so the helper's line is enough.
void expect_error(const std::string& yaml, const std::string& text) {
  EXPECT_THAT(error_of(yaml), testing::HasSubstr(text)) << "config:\n" << yaml;
}

constexpr const char* kMinimal = "pools:\n  - name: main\n    replicas: [10.0.0.1:8000]\n";

TEST(GatewayConfig, MinimalConfigGetsDocumentedDefaults) {
  const GatewayConfig c = parse_gateway_config(kMinimal);
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.listen.read_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.listen.keep_alive_timeout, std::chrono::seconds(60));
  ASSERT_EQ(c.pools.size(), 1u);
  const PoolConfig& p = c.pools[0];
  EXPECT_EQ(p.discovery.kind, DiscoveryKind::Static);
  EXPECT_EQ(p.discovery.replicas, (std::vector<HostPort>{{"10.0.0.1", 8000}}));
  EXPECT_EQ(p.balancer.kind, BalancerKind::LeastOutstanding);
  EXPECT_EQ(p.timeouts.connect, 2s);
  EXPECT_EQ(p.timeouts.first_token, 60s);
  EXPECT_EQ(p.timeouts.idle, 30s);
  EXPECT_EQ(p.health_check.path, "/ready");
  EXPECT_DOUBLE_EQ(p.outlier.error_rate, 0.05);
  EXPECT_EQ(p.outlier.consecutive_failures, 5u);
  EXPECT_DOUBLE_EQ(p.outlier.max_ejection_percent, 50);
  EXPECT_EQ(p.retry.max_retries, 2u);
  EXPECT_DOUBLE_EQ(p.failover_threshold, 0.5);
  // No routes: one catch-all route to the first pool.
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].split[0].pool, "main");
  EXPECT_TRUE(c.routes[0].headers.empty());
  EXPECT_FALSE(c.auth.enabled());
  EXPECT_TRUE(c.redis.fail_open);
  EXPECT_FALSE(c.response_cache.enabled);
  ASSERT_EQ(c.admission.queues.size(), 1u);
}

TEST(GatewayConfig, FullConfigParses) {
  const GatewayConfig c = parse_gateway_config(R"(
listen: {host: 127.0.0.1, port: 9000, read_timeout: 5s, keep_alive_timeout: 2m}
pools:
  - name: main
    dns: tide.internal:8000
    dns_refresh: 10s
    balancer: {policy: prefix_aware, block_size: 16, block_unit: tokens, load_factor: 1.5, learned_entries: 100}
    timeouts: {connect: 500ms, first_token: 2m, idle: 1h}
    health_check: {path: /ready, interval: 2s}
    outlier_detection: {consecutive_failures: 3, error_rate: 0.1, window: 10s, min_requests: 5,
                        base_ejection_time: 5s, max_ejection_percent: 30}
    retry: {max_retries: 1, budget_ratio: 0.1, min_per_second: 1}
    backup: spare
    failover_threshold: 0.3
    fallback: tiny
  - name: spare
    file: /etc/tide/replicas
    balancer: {policy: session_affinity, header: X-Session}
  - name: tiny
    replicas: ["[::1]:8001", "localhost:8002"]
    balancer: p2c_ewma
routes:
  - name: beta
    match: {model: deepseek-r1, headers: {X-Tenant: beta}}
    split: [{pool: main, weight: 90}, {pool: spare, weight: 10}]
    mirror: {pool: tiny, percent: 5}
  - pool: main
limits:
  - {key: api_key+model, requests_per_second: 10, burst: 20, tokens_per_minute: 100000}
  - {key: [user], requests_per_second: 1}
redis: {address: "redis:6379", fail_open: false, key_prefix: "gw:", pool_size: 2, connect_timeout: 20ms,
        reconnect_backoff: 10ms, reconnect_backoff_max: 1s}
auth: {keys_file: /etc/tide/keys}
admission:
  queues: [{priority: high, max_size: 10, timeout: 5s}, {priority: low}]
response_cache: {enabled: true, max_bytes: 8MiB, ttl: 1m}
)");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_EQ(c.listen.read_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.listen.keep_alive_timeout, std::chrono::minutes(2));
  const PoolConfig& main = c.pools[0];
  EXPECT_EQ(main.discovery.kind, DiscoveryKind::Dns);
  EXPECT_EQ(main.discovery.dns, (HostPort{"tide.internal", 8000}));
  EXPECT_EQ(main.discovery.dns_refresh, 10s);
  EXPECT_EQ(main.balancer.kind, BalancerKind::PrefixAware);
  EXPECT_EQ(main.balancer.prefix.block_size, 16u);
  EXPECT_EQ(main.balancer.prefix.block_unit, BlockUnit::Tokens);
  EXPECT_DOUBLE_EQ(main.balancer.prefix.load_factor, 1.5);
  EXPECT_EQ(main.timeouts.connect, 500ms);
  EXPECT_EQ(main.timeouts.first_token, 120s);
  EXPECT_EQ(main.outlier.consecutive_failures, 3u);
  EXPECT_EQ(main.backup, "spare");
  EXPECT_EQ(main.fallback, "tiny");
  EXPECT_EQ(c.pools[1].discovery.kind, DiscoveryKind::File);
  EXPECT_EQ(c.pools[1].balancer.session.header, "x-session");
  EXPECT_EQ(c.pools[2].discovery.replicas[0], (HostPort{"::1", 8001}));
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].model, "deepseek-r1");
  EXPECT_EQ(c.routes[0].headers[0].name, "x-tenant");
  EXPECT_EQ(c.routes[0].split[1].weight, 10u);
  EXPECT_DOUBLE_EQ(c.routes[0].mirror->percent, 5);
  EXPECT_EQ(c.routes[1].name, "route1");
  EXPECT_EQ(c.limits[0].key, (LimitKey{.api_key = true, .model = true}));
  EXPECT_EQ(c.limits[1].key, (LimitKey{.user = true}));
  EXPECT_FALSE(c.redis.fail_open);
  EXPECT_EQ(c.redis.key_prefix, "gw:");
  EXPECT_EQ(c.redis.pool_size, 2u);
  EXPECT_EQ(c.redis.connect_timeout, 20ms);
  EXPECT_EQ(c.redis.timeout, 50ms);
  EXPECT_EQ(c.redis.reconnect_backoff, 10ms);
  EXPECT_EQ(c.redis.reconnect_backoff_max, 1s);
  EXPECT_TRUE(c.auth.enabled());
  EXPECT_EQ(c.admission.queues[1].priority, "low");
  EXPECT_EQ(c.response_cache.max_bytes, 8u << 20);
  EXPECT_EQ(c.response_cache.ttl, 60s);
}

TEST(GatewayConfig, MalformedYamlNamesTheLine) {
  expect_error("pools:\n  - name: [unclosed\n", "gw.yaml: line");
  expect_error("", "gw.yaml: empty");
  expect_error("- a\n- b\n", "expected a mapping at the top level");
}

TEST(GatewayConfig, UnknownKeysAreErrorsNamingTheKey) {
  expect_error(std::string(kMinimal) + "limts: []\n", "limts: unknown key");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    replica: [h:2]\n", "pools[0].replica: unknown key");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    timeouts: {conect: 1s}\n",
                   "pools[0].timeouts.conect: unknown key");
  // A prefix_aware setting under another policy is a mistake, reported as unknown there.
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    balancer: {policy: round_robin, block_size: 4}\n",
                   "pools[0].balancer.block_size: unknown key");
}

TEST(GatewayConfig, WrongTypesAndBadValues) {
  expect_error("pools: {name: a}\n", "pools: expected a list, got a mapping");
  expect_error("pools:\n  - name: a\n    replicas: [h:1, x]\n", "pools[0].replicas[1]: \"x\" is not host:port");
  expect_error("pools:\n  - name: a\n    replicas: [\"h:99999\"]\n", "is not host:port");
  expect_error("pools:\n  - name: a\n    replicas: [\"::1:80\"]\n", "is not host:port");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    timeouts: {connect: soon}\n",
                   "pools[0].timeouts.connect: \"soon\" is not a duration");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    timeouts: {connect: [1]}\n",
                   "pools[0].timeouts.connect: expected a scalar, got a list");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    balancer: fastest\n",
                   "pools[0].balancer: \"fastest\" is not one of");
  expect_error(std::string(kMinimal) + "limits: [{key: api_key, requests_per_second: -1}]\n",
                   "limits[0].requests_per_second: -1 is out of range");
  expect_error(std::string(kMinimal) + "limits: [{key: api_key, requests_per_second: 1e400}]\n",
                   "limits[0].requests_per_second: \"1e400\" is not a number");
  expect_error(std::string(kMinimal) + "limits: [{key: api_key, requests_per_second: 1e12}]\n", "out of range");
  expect_error(std::string(kMinimal) + "limits: [{key: api_key}]\n", "needs requests_per_second or tokens_per_minute");
  expect_error(std::string(kMinimal) + "limits: [{key: api_key+ip, requests_per_second: 1}]\n",
                   "limits[0].key: \"ip\" is not api_key, user or model");
  expect_error(std::string(kMinimal) + "listen: {port: 99999999999999999999999}\n", "listen.port:");
  expect_error(std::string(kMinimal) + "listen: {port: 0}\n", "listen.port: 0 is out of range");
  expect_error(std::string(kMinimal) + "listen: {read_timeout: 10ms}\n", "listen.read_timeout: 10ms is out of range");
  expect_error(std::string(kMinimal) + "listen: {keep_alive_timeout: forever}\n", "listen.keep_alive_timeout");
  expect_error(std::string(kMinimal) + "redis: {fail_open: maybe}\n", "redis.fail_open: \"maybe\" is not true or false");
  expect_error(std::string(kMinimal) + "redis: {pool_size: 0}\n", "redis.pool_size: 0 is out of range");
  expect_error(std::string(kMinimal) + "redis: {reconnect_backoff: 2s, reconnect_backoff_max: 1s}\n",
               "redis.reconnect_backoff_max: shorter than reconnect_backoff");
  expect_error(std::string(kMinimal) + "response_cache: {max_bytes: 2000GiB}\n", "response_cache.max_bytes");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    outlier_detection: {error_rate: 1.5}\n",
                   "pools[0].outlier_detection.error_rate: 1.5 is out of range");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    timeouts: {idle: 100000h}\n", "longer than a year");
  expect_error("pools:\n  - name: a\n", "pools[0]: needs exactly one of replicas, dns or file");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    dns: h:1\n", "needs exactly one of");
  expect_error("pools:\n  - name: a\n    replicas: [h:1]\n    dns_refresh: 1s\n", "applies only to dns discovery");
  expect_error("pools: []\n", "at least one pool");
}

TEST(GatewayConfig, ValidateChecksCrossReferences) {
  const std::string two = "pools:\n  - {name: a, replicas: [h:1], backup: b}\n  - {name: b, replicas: [h:2]";
  EXPECT_EQ(error_of(two + "}\n"), "");
  expect_error(two + ", backup: a}\n", "pools[0].backup: the backup chain from \"a\" loops back to \"a\"");
  expect_error(two + ", fallback: b}\n", "pools[1].fallback: a pool cannot be its own fallback");
  expect_error(two + "}\nroutes: [{pool: c}]\n", "routes[0].split[0].pool: no pool is named \"c\"");
  expect_error(two + "}\nroutes: [{pool: a, mirror: {pool: z}}]\n", "routes[0].mirror.pool: no pool is named \"z\"");
  expect_error(two + "}\nroutes: [{pool: a, mirror: {pool: b, percent: 150}}]\n",
                   "routes[0].mirror.percent: 150 is out of range");
  expect_error(two + "}\nroutes: [{split: [{pool: a, weight: 0}]}]\n", "routes[0].split: weights add up to 0");
  expect_error(two + "}\nroutes: [{pool: a, split: []}]\n", "routes[0]: needs exactly one of pool or split");
  expect_error("pools:\n  - {name: a, replicas: [h:1]}\n  - {name: a, replicas: [h:2]}\n",
                   "pools[1].name: \"a\" is used by an earlier pool");
  expect_error("pools:\n  - {name: a, replicas: [h:1], backup: nowhere}\n", "pools[0].backup: no pool is named");

  // validate() on a config edited in code.
  GatewayConfig c = parse_gateway_config(two + "}\n");
  c.pools[1].backup = "a";
  EXPECT_THROW(validate(c), Error);
}

TEST(GatewayConfig, HostPortParsing) {
  EXPECT_EQ(parse_host_port("a.b:80"), (HostPort{"a.b", 80}));
  EXPECT_EQ(parse_host_port("[fe80::1]:443"), (HostPort{"fe80::1", 443}));
  EXPECT_FALSE(parse_host_port(":80"));
  EXPECT_FALSE(parse_host_port("a:"));
  EXPECT_FALSE(parse_host_port("a:0"));
  EXPECT_FALSE(parse_host_port("a:80x"));
  EXPECT_FALSE(parse_host_port("a b:80"));
  EXPECT_FALSE(parse_host_port("[::1]80"));
  EXPECT_EQ(to_string(HostPort{"::1", 80}), "[::1]:80");
}

TEST(GatewayConfig, HostileInputsGiveErrorsNotCrashes) {
  // Deep nesting, aliases, binary bytes, a huge document.
  EXPECT_NE(error_of(std::string(5000, '[')), "");
  EXPECT_NE(error_of("a: &x [*x]\n"), "");
  EXPECT_NE(error_of(std::string("pools:\n  - name: \0\xff\n", 20)), "");
  expect_error(std::string(5u << 20, '#'), "larger than");
  expect_error("pools:\n  - &p {name: a, replicas: [h:1]}\n  - *p\n", "is used by an earlier pool");
}

}  // namespace
}  // namespace tide::gateway
