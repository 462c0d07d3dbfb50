#include "gateway/replica_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/metrics_page.h"

namespace tide::gateway {
namespace {

enum Signal { kRunning, kWaiting, kKvUsage, kPrefixQueries, kPrefixHits, kSignals };

struct Name {
  std::string_view name;
  Signal signal;
  int rank;  // lower wins when a page has several names of one signal
};

constexpr int kRanks = 3;
constexpr std::array<Name, 14> kNames{{
    {"tide_num_requests_running", kRunning, 0},
    {"vllm:num_requests_running", kRunning, 1},
    {"sglang:num_running_reqs", kRunning, 2},
    {"tide_num_requests_waiting", kWaiting, 0},
    {"vllm:num_requests_waiting", kWaiting, 1},
    {"sglang:num_queue_reqs", kWaiting, 2},
    {"tide_kv_cache_usage_ratio", kKvUsage, 0},
    {"vllm:kv_cache_usage_perc", kKvUsage, 1},  // a ratio despite the name, as is the next
    {"vllm:gpu_cache_usage_perc", kKvUsage, 2},
    {"sglang:token_usage", kKvUsage, 2},  // never on the same page as vLLM's
    {"tide_prefix_cache_queries_total", kPrefixQueries, 0},
    {"vllm:prefix_cache_queries_total", kPrefixQueries, 1},
    {"tide_prefix_cache_hits_total", kPrefixHits, 0},
    {"vllm:prefix_cache_hits_total", kPrefixHits, 1},
}};
// Older vLLM (V0) prefixed the prefix-cache counters with gpu_.
constexpr std::array<Name, 2> kOldNames{{
    {"vllm:gpu_prefix_cache_queries_total", kPrefixQueries, 2},
    {"vllm:gpu_prefix_cache_hits_total", kPrefixHits, 2},
}};

const Name* find_name(std::string_view name) {
  for (const Name& n : kNames)
    if (n.name == name) return &n;
  for (const Name& n : kOldNames)
    if (n.name == name) return &n;
  return nullptr;
}

}  // namespace

ReplicaLoad parse_replica_metrics(std::string_view text) {
  struct Slot {
    bool seen = false;
    double value = 0;
  };
  std::array<std::array<Slot, kRanks>, kSignals> slots{};

  const MetricsPage page(text);
  for (const MetricSample& sample : page.samples()) {
    const Name* known = find_name(sample.name);
    if (!known || sample.value < 0) continue;  // not a signal, or a negative load (malformed)
    Slot& slot = slots[known->signal][known->rank];
    if (known->signal == kKvUsage) slot.value = slot.seen ? std::max(slot.value, sample.value) : sample.value;
    else slot.value += sample.value;
    slot.seen = true;
  }

  const auto pick = [&](Signal s) -> std::optional<double> {
    for (const Slot& slot : slots[s])
      if (slot.seen) return std::isfinite(slot.value) ? std::optional(slot.value) : std::nullopt;
    return std::nullopt;
  };
  ReplicaLoad out;
  out.running = pick(kRunning);
  out.waiting = pick(kWaiting);
  out.kv_usage = pick(kKvUsage);
  if (out.kv_usage) out.kv_usage = std::clamp(*out.kv_usage, 0.0, 1.0);
  out.prefix_queries = pick(kPrefixQueries);
  out.prefix_hits = pick(kPrefixHits);
  return out;
}

uint32_t replica_count(double value) {
  constexpr double kMax = std::numeric_limits<uint32_t>::max();
  if (!(value > 0)) return 0;  // also NaN
  return static_cast<uint32_t>(std::min(std::floor(value), kMax));
}

void apply_replica_load(const ReplicaLoad& load, EndpointSnapshot& endpoint) {
  if (load.running) endpoint.running = replica_count(*load.running);
  if (load.waiting) endpoint.waiting = replica_count(*load.waiting);
  if (load.kv_usage) endpoint.kv_usage = *load.kv_usage;
}

}  // namespace tide::gateway
