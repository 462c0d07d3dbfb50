#include "gateway/replica_metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

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

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool blank(char c) { return c == ' ' || c == '\t'; }

// A cursor over one line; every step fails softly (returns false) on malformed text.
struct Line {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i >= s.size(); }
  void skip_blanks() {
    while (!done() && blank(s[i])) ++i;
  }
  std::string_view name(bool allow_colon) {
    const std::size_t start = i;
    if (done() || !name_start(s[i]) || (!allow_colon && s[i] == ':')) return {};
    while (!done() && name_char(s[i]) && (allow_colon || s[i] != ':')) ++i;
    return s.substr(start, i - start);
  }
  // {name="value", ...}: checked for shape only, since no signal depends on a label's value.
  bool labels() {
    ++i;  // '{'
    for (;;) {
      skip_blanks();
      if (done()) return false;
      if (s[i] == '}') {
        ++i;
        return true;
      }
      if (name(false).empty()) return false;
      skip_blanks();
      if (done() || s[i] != '=') return false;
      ++i;
      skip_blanks();
      if (done() || s[i] != '"') return false;
      for (++i;; ++i) {
        if (done()) return false;
        if (s[i] == '\\') {
          if (++i >= s.size()) return false;
        } else if (s[i] == '"') {
          ++i;
          break;
        }
      }
      skip_blanks();
      if (done()) return false;
      if (s[i] == ',') ++i;
      else if (s[i] != '}') return false;
    }
  }
  std::string_view token() {
    const std::size_t start = i;
    while (!done() && !blank(s[i])) ++i;
    return s.substr(start, i - start);
  }
};

// A finite sample value; NaN, ±Inf and anything from_chars does not take fully are nullopt.
std::optional<double> parse_value(std::string_view text) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  // from_chars would take "inf" and "nan"; neither is a usable load.
  const char c = text[0] == '-' && text.size() > 1 ? text[1] : text[0];
  if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool is_timestamp(std::string_view text) {
  if (!text.empty() && text[0] == '-') text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ReplicaLoad parse_replica_metrics(std::string_view text) {
  struct Slot {
    bool seen = false;
    double value = 0;
  };
  std::array<std::array<Slot, kRanks>, kSignals> slots{};

  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);

    Line line{raw};
    line.skip_blanks();
    if (line.done() || raw[line.i] == '#') continue;
    const Name* known = find_name(line.name(true));
    if (!known) continue;  // unknown metric, or no name at all
    if (!line.done() && raw[line.i] == '{' && !line.labels()) continue;
    if (line.done() || !blank(raw[line.i])) continue;  // a name must be followed by a blank
    line.skip_blanks();
    const std::optional<double> value = parse_value(line.token());
    line.skip_blanks();
    if (!line.done() && !is_timestamp(line.token())) continue;
    line.skip_blanks();
    if (!line.done() || !value || *value < 0) continue;

    Slot& slot = slots[known->signal][known->rank];
    if (known->signal == kKvUsage) slot.value = slot.seen ? std::max(slot.value, *value) : *value;
    else slot.value += *value;
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

void apply_replica_load(const ReplicaLoad& load, EndpointSnapshot& endpoint) {
  const auto count = [](double v) {
    constexpr double kMax = std::numeric_limits<uint32_t>::max();
    return static_cast<uint32_t>(std::min(std::floor(v), kMax));
  };
  if (load.running) endpoint.running = count(*load.running);
  if (load.waiting) endpoint.waiting = count(*load.waiting);
  if (load.kv_usage) endpoint.kv_usage = *load.kv_usage;
}

}  // namespace tide::gateway
