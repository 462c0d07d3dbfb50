#pragma once
// The autoscaler's settings as typed structs, parsed once and strictly (an unknown key, a wrong
// type or an out-of-range number is a tide::Error naming the field). The defaults follow the
// Kubernetes HPA's where the HPA has the same knob, so a policy without a config behaves like
// the HPA an operator already knows. docs/autoscaler.md documents every field.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

namespace tide::autoscaler {

enum class PolicyKind { Static, Reactive, Predictive };
// What target tracking compares with its target: running requests per ready replica, queued
// requests per ready replica, mean KV-cache usage, generated tokens per second per replica.
enum class SignalKind { InFlight, Waiting, KvUsage, TokensPerS };

std::string_view policy_name(PolicyKind kind);
std::string_view signal_name(SignalKind kind);

// One direction's rate limit, HPA style: within any `period_s`, change by at most the larger
// of `percent` % of the count at the period's start and `pods` replicas.
struct RateLimit {
  double percent = 100;
  int pods = 4;
  double period_s = 15;
};

struct ScaleBehavior {
  // Recommendations are remembered this long: scaling up takes the lowest of them, scaling
  // down the highest, so a direction needs the whole window to agree.
  double stabilization_s = 0;
  RateLimit limit;
};

// Knative-style panic: when demand over the short window reaches `threshold` × the current
// capacity, scale up at once (no rate limit) and never down until `hold_s` passes without it.
struct PanicConfig {
  bool enabled = true;
  double threshold = 2.0;
  double window_s = 10;
  double hold_s = 60;
};

struct SloConfig {
  double ttft_s = 2.0;       // a request meets the SLO when its first token came within this
  double attainment = 0.99;  // the share of requests that must meet it
};

struct PredictiveConfig {
  double season_s = 86'400;  // one day: the tide of interactive load
  double bucket_s = 300;     // the forecaster's step; arrival rates are averaged per bucket
  double alpha = 0.5;        // level smoothing
  double beta = 0.05;        // trend smoothing
  double gamma = 0.3;        // seasonal smoothing
  double startup_s = 90;     // a new replica's measured time to ready
  double margin_s = 60;      // forecast this far beyond the start-up time
  double utilization = 0.8;  // plan replicas to run at this share of their capacity
  double capacity_rps = 4;   // requests per second one replica serves within the SLO (the seed)
  bool learn_capacity = true;
};

struct StaticConfig {
  std::optional<int> replicas;  // required by the static policy; the simulator sizes it for the peak
};

struct ScalingConfig {
  int min_replicas = 1;  // 0 allows scale to zero
  int max_replicas = 64;
  double interval_s = 15;  // the control tick (the HPA's sync period)
  PolicyKind policy = PolicyKind::Reactive;
  SignalKind signal = SignalKind::InFlight;
  double target = 32;       // per replica, in the signal's unit (kv_usage: a share in (0, 1])
  double tolerance = 0.1;   // no change while |metric / target − 1| ≤ tolerance
  double headroom = 0.2;    // the policy tracks target × (1 − headroom)
  ScaleBehavior scale_up{.stabilization_s = 0, .limit = {.percent = 100, .pods = 4, .period_s = 15}};
  ScaleBehavior scale_down{.stabilization_s = 300, .limit = {.percent = 100, .pods = 0, .period_s = 15}};
  PanicConfig panic;
  PredictiveConfig predictive;
  SloConfig slo;
  StaticConfig static_policy;

  double effective_target() const { return target * (1 - headroom); }
};

// `node` is the scaling section (a mapping, or null for all defaults); `where` prefixes every
// field path in errors ("scaling.yaml: scale_up.pods: ...").
ScalingConfig parse_scaling_config(const YAML::Node& node, const std::string& where);
ScalingConfig parse_scaling_config_text(std::string_view yaml, const std::string& where);
ScalingConfig load_scaling_config(const std::string& path);

}  // namespace tide::autoscaler
