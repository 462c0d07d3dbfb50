#include "autoscaler/policy/scaling_config.h"

#include <cmath>

#include "common/error.h"
#include "common/json_file.h"
#include "common/yaml_fields.h"

namespace tide::autoscaler {
namespace {

using namespace std::chrono_literals;

// Bounds no sane deployment reaches; beyond them a value is a typo (an extra zero).
constexpr uint64_t kMaxReplicas = 10'000;
constexpr std::size_t kMaxConfigBytes = 1u << 20;

double seconds(YamlFields& f, const std::string& key, double fallback, std::chrono::milliseconds min,
               std::chrono::milliseconds max) {
  const auto fallback_ms = std::chrono::milliseconds(static_cast<int64_t>(fallback * 1000));
  return static_cast<double>(f.duration(key, fallback_ms, min, max).count()) / 1000.0;
}

PolicyKind policy_kind(const std::string& name, const std::string& path) {
  if (name == "static") return PolicyKind::Static;
  if (name == "reactive") return PolicyKind::Reactive;
  if (name == "predictive") return PolicyKind::Predictive;
  fail("{}: \"{}\" is not one of static, reactive, predictive", path, name);
}

SignalKind signal_kind(const std::string& name, const std::string& path) {
  if (name == "in_flight") return SignalKind::InFlight;
  if (name == "waiting") return SignalKind::Waiting;
  if (name == "kv_usage") return SignalKind::KvUsage;
  if (name == "tokens_per_s") return SignalKind::TokensPerS;
  fail("{}: \"{}\" is not one of in_flight, waiting, kv_usage, tokens_per_s", path, name);
}

ScaleBehavior parse_behavior(YamlFields f, ScaleBehavior out, bool up) {
  out.stabilization_s = seconds(f, "stabilization", out.stabilization_s, 0ms, 1h);
  out.limit.percent = f.number("percent", out.limit.percent, 0, up ? 10'000 : 100);
  out.limit.pods = static_cast<int>(f.integer("pods", static_cast<uint64_t>(out.limit.pods), 0, kMaxReplicas));
  out.limit.period_s = seconds(f, "period", out.limit.period_s, 1s, 30min);
  if (up && out.limit.percent == 0 && out.limit.pods == 0)
    fail("{}: percent and pods are both 0, which never scales up", f.path());
  f.finish();
  return out;
}

PanicConfig parse_panic(YamlFields f) {
  PanicConfig out;
  out.enabled = f.boolean("enabled", out.enabled);
  out.threshold = f.number("threshold", out.threshold, 1.1, 100);
  out.window_s = seconds(f, "window", out.window_s, 1s, 10min);
  out.hold_s = seconds(f, "hold", out.hold_s, 0ms, 1h);
  f.finish();
  return out;
}

SloConfig parse_slo(YamlFields f) {
  SloConfig out;
  out.ttft_s = seconds(f, "ttft", out.ttft_s, 1ms, 10min);
  out.attainment = f.number("attainment", out.attainment, 0.5, 1);
  f.finish();
  return out;
}

PredictiveConfig parse_predictive(YamlFields f) {
  PredictiveConfig out;
  out.season_s = seconds(f, "season", out.season_s, 1min, 24h * 28);
  out.bucket_s = seconds(f, "bucket", out.bucket_s, 1s, 24h);
  if (out.bucket_s > out.season_s / 2) fail("{}: must be at most half the season", f.field_path("bucket"));
  const double buckets = out.season_s / out.bucket_s;
  if (std::abs(buckets - std::round(buckets)) > 1e-6)
    fail("{}: the season ({} s) must be a whole number of buckets ({} s)", f.field_path("bucket"), out.season_s,
         out.bucket_s);
  if (buckets > 100'000) fail("{}: more than 100000 buckets per season", f.field_path("bucket"));
  out.alpha = f.number("alpha", out.alpha, 0.001, 1);
  out.beta = f.number("beta", out.beta, 0, 1);
  out.gamma = f.number("gamma", out.gamma, 0, 1);
  out.startup_s = seconds(f, "startup", out.startup_s, 0ms, 2h);
  out.margin_s = seconds(f, "margin", out.margin_s, 0ms, 2h);
  out.utilization = f.number("utilization", out.utilization, 0.05, 1);
  out.capacity_rps = f.number("capacity_per_replica", out.capacity_rps, 1e-6, 1e6);
  out.learn_capacity = f.boolean("learn_capacity", out.learn_capacity);
  f.finish();
  return out;
}

ScalingConfig parse_root(YamlFields& f) {
  ScalingConfig out;
  out.min_replicas = static_cast<int>(f.integer("min_replicas", static_cast<uint64_t>(out.min_replicas), 0, kMaxReplicas));
  out.max_replicas = static_cast<int>(f.integer("max_replicas", static_cast<uint64_t>(out.max_replicas), 1, kMaxReplicas));
  if (out.min_replicas > out.max_replicas)
    fail("{}: {} is above max_replicas ({})", f.field_path("min_replicas"), out.min_replicas, out.max_replicas);
  out.interval_s = seconds(f, "interval", out.interval_s, 1s, 10min);
  out.policy = policy_kind(f.string("policy", "reactive"), f.field_path("policy"));
  out.signal = signal_kind(f.string("signal", "in_flight"), f.field_path("signal"));
  const double max_target = out.signal == SignalKind::KvUsage ? 1.0 : 1e9;
  if (out.signal == SignalKind::KvUsage && !f.has("target"))
    fail("{}: kv_usage needs a target (a share of the cache, e.g. 0.7)", f.field_path("target"));
  out.target = f.number("target", out.target, 1e-9, max_target);
  out.tolerance = f.number("tolerance", out.tolerance, 0, 0.99);
  out.headroom = f.number("headroom", out.headroom, 0, 0.95);
  out.scale_up = parse_behavior(YamlFields(f.child("scale_up"), f.field_path("scale_up")), out.scale_up, true);
  out.scale_down = parse_behavior(YamlFields(f.child("scale_down"), f.field_path("scale_down")), out.scale_down, false);
  out.panic = parse_panic(YamlFields(f.child("panic"), f.field_path("panic")));
  out.slo = parse_slo(YamlFields(f.child("slo"), f.field_path("slo")));
  out.predictive = parse_predictive(YamlFields(f.child("predictive"), f.field_path("predictive")));
  YamlFields st(f.child("static"), f.field_path("static"));
  if (st.has("replicas"))
    out.static_policy.replicas = static_cast<int>(st.integer("replicas", 0, 0, kMaxReplicas));
  st.finish();
  if (out.static_policy.replicas &&
      (*out.static_policy.replicas < out.min_replicas || *out.static_policy.replicas > out.max_replicas))
    fail("static.replicas: {} is outside [min_replicas, max_replicas] = [{}, {}]", *out.static_policy.replicas,
         out.min_replicas, out.max_replicas);
  f.finish();
  return out;
}

}  // namespace

std::string_view policy_name(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::Static: return "static";
    case PolicyKind::Reactive: return "reactive";
    case PolicyKind::Predictive: return "predictive";
  }
  return "?";
}

std::string_view signal_name(SignalKind kind) {
  switch (kind) {
    case SignalKind::InFlight: return "in_flight";
    case SignalKind::Waiting: return "waiting";
    case SignalKind::KvUsage: return "kv_usage";
    case SignalKind::TokensPerS: return "tokens_per_s";
  }
  return "?";
}

ScalingConfig parse_scaling_config(const YAML::Node& node, const std::string& where) {
  try {
    YamlFields root(node, "");
    return parse_root(root);
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  } catch (const YAML::Exception& e) {
    // yaml-cpp can still throw on access (e.g. an alias to an invalid node); never let it out.
    fail("{}: {}", where, e.msg);
  }
}

ScalingConfig parse_scaling_config_text(std::string_view yaml, const std::string& where) {
  if (yaml.size() > kMaxConfigBytes) fail("{}: larger than {} bytes", where, kMaxConfigBytes);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; editors count from 1.
    fail("{}: line {}, column {}: malformed YAML: {}", where, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return parse_scaling_config(root, where);
}

ScalingConfig load_scaling_config(const std::string& path) {
  return parse_scaling_config_text(read_text_file(path), path);
}

}  // namespace tide::autoscaler
