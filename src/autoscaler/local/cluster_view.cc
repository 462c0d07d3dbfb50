#include "autoscaler/local/cluster_view.h"

#include <fmt/format.h>

#include <cmath>

namespace tide::autoscaler {
namespace {

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json sample_json(const PoolSample& s) {
  return {{"time_s", s.time_s},
          {"ready", s.ready},
          {"starting", s.starting},
          {"in_flight", s.in_flight},
          {"waiting", s.waiting},
          {"kv_usage", s.kv_usage},
          {"tokens_per_s", s.tokens_per_s},
          {"arrival_rate", s.arrival_rate},
          {"completion_rate", s.completion_rate},
          {"slo_attainment", number_or_null(s.slo_attainment)}};
}

std::string clock(double seconds) {
  const auto s = static_cast<long>(seconds);
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::string fit(std::string text, std::size_t width) {
  if (text.size() > width && width > 1) text = text.substr(0, width - 1) + "…";
  return text;
}

}  // namespace

nlohmann::json to_json(const ClusterView& view) {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& pool : view.pools) {
    nlohmann::json replicas = nlohmann::json::array();
    for (const auto& r : pool.replicas)
      replicas.push_back({{"id", r.id},
                          {"state", std::string(to_string(r.state))},
                          {"url", r.url},
                          {"pid", r.pid},
                          {"age_s", r.age_s},
                          {"devices", r.devices},
                          {"note", r.note}});
    nlohmann::json p = {{"name", pool.name},
                        {"policy", pool.policy},
                        {"desired", pool.counts.desired},
                        {"ready", pool.counts.ready},
                        {"starting", pool.counts.starting},
                        {"draining", pool.counts.draining},
                        {"replicas", replicas}};
    if (pool.control) {
      const auto& c = *pool.control;
      p["sample"] = c.sample ? sample_json(*c.sample) : nlohmann::json(nullptr);
      p["last_reason"] = c.last_reason;
      p["signal_error"] = c.signal_error;
      nlohmann::json changes = nlohmann::json::array();
      for (const auto& d : c.changes) changes.push_back({{"time_s", d.time_s}, {"from", d.from}, {"to", d.to}, {"reason", d.reason}});
      p["changes"] = changes;
    }
    pools.push_back(std::move(p));
  }
  return {{"gateway", view.gateway_url}, {"status", view.status_url}, {"run_dir", view.run_dir},
          {"uptime_s", view.uptime_s}, {"pools", pools}};
}

std::string render_terminal(const ClusterView& view, std::size_t width) {
  std::string out = fmt::format("tide up · gateway {} · up {} · logs in {}\n", view.gateway_url, clock(view.uptime_s),
                                view.run_dir);
  out += fmt::format("status {}/status · Ctrl-C drains and stops everything\n", view.status_url);
  for (const auto& pool : view.pools) {
    out += fmt::format("\npool {} ({}): {} ready, {} starting, {} draining, want {}\n", pool.name, pool.policy,
                       pool.counts.ready, pool.counts.starting, pool.counts.draining, pool.counts.desired);
    if (pool.control && pool.control->sample) {
      const auto& s = *pool.control->sample;
      out += fmt::format("  load: {:.2f} req/s in, {:.2f} out, {:.0f} running, {:.0f} waiting, KV {:.0f}%, {:.0f} tok/s",
                         s.arrival_rate, s.completion_rate, s.in_flight, s.waiting, s.kv_usage * 100, s.tokens_per_s);
      out += std::isfinite(s.slo_attainment) ? fmt::format(", SLO met {:.1f}%\n", s.slo_attainment * 100) : "\n";
    }
    if (pool.control && !pool.control->signal_error.empty())
      out += fit("  signals: " + pool.control->signal_error, width) + "\n";
    out += fmt::format("  {:>3}  {:<9} {:<28} {:>7} {:>8}  {}\n", "id", "state", "url", "pid", "for", "gpus / note");
    for (const auto& r : pool.replicas)
      out += fit(fmt::format("  {:>3}  {:<9} {:<28} {:>7} {:>7.0f}s  {}{}{}", r.id, to_string(r.state), r.url, r.pid,
                             r.age_s, r.devices, r.devices.empty() || r.note.empty() ? "" : " ", r.note),
                 width) + "\n";
    if (pool.control) {
      out += "  recent scaling:\n";
      if (pool.control->changes.empty()) out += "    none yet\n";
      const auto& changes = pool.control->changes;
      for (std::size_t i = changes.size() > 5 ? changes.size() - 5 : 0; i < changes.size(); ++i)
        out += fit(fmt::format("    {}  {} → {}  {}", clock(changes[i].time_s), changes[i].from, changes[i].to,
                               changes[i].reason),
                   width) + "\n";
    }
  }
  return out;
}

}  // namespace tide::autoscaler
