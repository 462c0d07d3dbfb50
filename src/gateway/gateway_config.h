#pragma once
// The gateway's configuration: typed structs parsed once from YAML (docs/gateway.md is the
// operator's reference; every field below carries the default it documents). Policies take
// their own section of these structs and never look at YAML.
//
// Parsing is strict: unknown keys, wrong types, out-of-range numbers and malformed host:port
// strings throw tide::Error naming the field (`pools[1].replicas[0]: "x" is not host:port`).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tide::gateway {

using Millis = std::chrono::milliseconds;

struct HostPort {
  std::string host;  // a name or an address; IPv6 addresses without the brackets
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// "host:port" or "[v6]:port"; nullopt when malformed (the caller names the field).
std::optional<HostPort> parse_host_port(std::string_view text);
std::string to_string(const HostPort& address);

struct ListenConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;
  Millis read_timeout{30'000};        // a client's whole request, from its first byte
  Millis keep_alive_timeout{60'000};  // an idle client connection
};

enum class DiscoveryKind { Static, Dns, File };

struct DiscoveryConfig {
  DiscoveryKind kind = DiscoveryKind::Static;
  std::vector<HostPort> replicas;  // Static
  HostPort dns;                    // Dns: every address the name resolves to, at this port
  Millis dns_refresh{30'000};
  std::filesystem::path file;  // File: one host:port a line, re-read when it changes
  Millis file_poll{5'000};
};

enum class BalancerKind { RoundRobin, LeastOutstanding, P2cEwma, PrefixAware, SessionAffinity };
enum class BlockUnit { Chars, Tokens };

struct PrefixAwareConfig {
  std::size_t block_size = 64;       // chars (or tokens) per hashed block
  BlockUnit block_unit = BlockUnit::Chars;
  std::size_t max_blocks = 8;        // the ring key covers at most this many leading blocks
  double load_factor = 1.25;         // bounded load: skip endpoints above factor × average
  std::size_t learned_entries = 65536;  // LRU map prefix hash → endpoint; 0 disables it
  std::size_t virtual_nodes = 160;
};

struct SessionAffinityConfig {
  std::string header = "x-session-id";
  std::size_t virtual_nodes = 160;
};

struct BalancerConfig {
  BalancerKind kind = BalancerKind::LeastOutstanding;
  PrefixAwareConfig prefix{};
  SessionAffinityConfig session{};
};

struct TimeoutConfig {
  Millis connect{2'000};
  Millis first_token{60'000};
  Millis idle{30'000};
};

struct HealthCheckConfig {
  std::string path = "/ready";
  Millis interval{5'000};
  Millis timeout{1'000};
};

struct OutlierConfig {
  uint32_t consecutive_failures = 5;  // 0 disables this trigger
  double error_rate = 0.05;           // in (0, 1]; 1 means only a window of all failures ejects
  Millis window{30'000};
  uint32_t min_requests = 20;  // error rate is judged only over at least this many requests
  Millis base_ejection_time{30'000};
  Millis max_ejection_time{300'000};
  double max_ejection_percent = 50;  // of the pool; one endpoint may always be ejected
};

struct RetryConfig {
  uint32_t max_retries = 2;       // per request, on top of the first attempt
  double budget_ratio = 0.2;      // retries allowed per request in the window
  double min_per_second = 3;      // retries always allowed, so quiet pools can still retry
  Millis budget_window{10'000};
};

struct PoolConfig {
  std::string name;
  DiscoveryConfig discovery;
  BalancerConfig balancer;
  TimeoutConfig timeouts;
  HealthCheckConfig health_check;
  OutlierConfig outlier;
  RetryConfig retry;
  std::string backup;               // pool to fail over to; empty: none
  double failover_threshold = 0.5;  // fail over when healthy share < this
  std::string fallback;             // pool used when this pool and its backups are all down
};

struct HeaderMatch {
  std::string name;  // lower-case; header names compare case-insensitively
  std::string value;
};

struct WeightedPool {
  std::string pool;
  uint32_t weight = 1;
};

struct MirrorConfig {
  std::string pool;
  double percent = 0;  // of the requests this route takes, copied fire-and-forget
};

struct RouteConfig {
  std::string name;
  std::string model;                 // exact match on the request's model; empty: any
  std::vector<HeaderMatch> headers;  // all must match; empty: any
  std::vector<WeightedPool> split;   // `pool: x` is a split of one
  std::optional<MirrorConfig> mirror;
};

// Which request attributes a limit rule's buckets are keyed by.
struct LimitKey {
  bool api_key = false;
  bool user = false;
  bool model = false;
  bool operator==(const LimitKey&) const = default;
};

struct LimitRule {
  LimitKey key;
  double requests_per_second = 0;  // 0: no request limit
  double burst = 0;                // 0: max(1, requests_per_second)
  double tokens_per_minute = 0;    // 0: no token limit
  double token_burst = 0;          // 0: tokens_per_minute
};

struct RedisConfig {
  std::string address;  // host:port; empty: limits are local to this gateway
  bool fail_open = true;
  Millis timeout{50};                 // per command (the limiter's Lua script)
  Millis connect_timeout{50};
  std::string key_prefix = "tide:rl:";  // gateways sharing limits must share it
  uint32_t pool_size = 8;             // hiredis connections, one per concurrent call
  Millis reconnect_backoff{100};      // first wait after a failure, doubled per failure
  Millis reconnect_backoff_max{5'000};
};

struct AuthConfig {
  std::filesystem::path keys_file;  // see api_keys.h for the format
  std::string keys_env;             // name of an environment variable holding keys
  bool enabled() const { return !keys_file.empty() || !keys_env.empty(); }
};

struct PriorityQueueConfig {
  std::string priority;
  uint32_t max_size = 256;
  Millis timeout{30'000};
};

struct AdmissionConfig {
  std::string priority_header = "x-priority";
  std::vector<PriorityQueueConfig> queues{{.priority = "default"}};  // first is the highest
};

struct ResponseCacheConfig {
  bool enabled = false;
  std::size_t max_bytes = 64u << 20;
  std::size_t max_entries = 10'000;
  Millis ttl{300'000};
};

struct GatewayConfig {
  ListenConfig listen;
  std::vector<PoolConfig> pools;
  std::vector<RouteConfig> routes;
  std::vector<LimitRule> limits;
  RedisConfig redis;
  AuthConfig auth;
  AdmissionConfig admission;
  ResponseCacheConfig response_cache;

  const PoolConfig* find_pool(std::string_view name) const;
};

// Parses and validates. `source` names the input in error messages.
GatewayConfig parse_gateway_config(std::string_view yaml, std::string_view source = "gateway config");
GatewayConfig load_gateway_config(const std::filesystem::path& path);

// Cross-reference checks: routes and mirrors to unknown pools, backup chains that loop,
// duplicate names, empty splits. parse_gateway_config calls it; call it again after editing.
void validate(const GatewayConfig& config);

}  // namespace tide::gateway
