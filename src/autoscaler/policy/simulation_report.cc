#include "autoscaler/policy/simulation_report.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace tide::autoscaler {
namespace {

// Distinct on white and for the common colour-vision deficiencies (Okabe–Ito).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"};

std::string trace_summary(const SimulationRun& run) {
  const Trace& t = *run.trace;
  const ReplicaModel& m = run.options.replica;
  return fmt::format(
      "trace {}: {:.1f} h, mean {:.1f} req/s, peak {:.1f} req/s; replica: {} slots, {:.2f} req/s, start-up {:g} s; "
      "SLO: TTFT ≤ {:g} s; control tick {:g} s",
      run.trace_name, (t.end_s - t.start_s()) / 3600, t.mean_rps(), t.peak_rps(), m.slots, m.capacity_rps(), m.startup_s,
      run.options.slo_ttft_s, run.options.interval_s);
}

}  // namespace

double share_of_static(const SimulationRun& run, const SimulationResult& result) {
  for (const SimulationResult& r : run.results)
    if (r.policy == "static" && r.replica_hours > 0) return result.replica_hours / r.replica_hours;
  return std::numeric_limits<double>::quiet_NaN();
}

std::string simulation_table(const SimulationRun& run) {
  std::string out = trace_summary(run) + "\n";
  out += fmt::format("{:<11} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>8} {:>7}\n", "policy", "requests", "SLO met",
                     "replica-h", "vs static", "p50 TTFT", "p99 TTFT", "max rep", "events");
  for (const SimulationResult& r : run.results) {
    const double share = share_of_static(run, r);
    out += fmt::format("{:<11} {:>9} {:>8.2f}% {:>10.1f} {:>9} {:>8.2f}s {:>8.2f}s {:>8} {:>7}\n", r.policy, r.requests,
                       r.attainment * 100, r.replica_hours,
                       std::isnan(share) ? std::string("-") : fmt::format("{:.0f}%", share * 100), r.p50_ttft_s,
                       r.p99_ttft_s, r.max_replicas, r.scale_events);
  }
  return out;
}

nlohmann::json simulation_json(const SimulationRun& run, const nlohmann::json& config) {
  const Trace& t = *run.trace;
  const ReplicaModel& m = run.options.replica;
  nlohmann::json out;
  out["trace"] = {{"name", run.trace_name}, {"duration_s", t.end_s - t.start_s()}, {"mean_rps", t.mean_rps()},
                  {"peak_rps", t.peak_rps()}};
  out["model"] = {{"slots", m.slots},           {"prefill_s", m.prefill_s},
                  {"decode_s", m.decode_s},     {"startup_s", m.startup_s},
                  {"capacity_rps", m.capacity_rps()}, {"interval_s", run.options.interval_s},
                  {"slo_ttft_s", run.options.slo_ttft_s}, {"seed", run.options.seed}};
  out["config"] = config;
  out["results"] = nlohmann::json::array();
  for (const SimulationResult& r : run.results) {
    nlohmann::json j = {{"policy", r.policy},
                        {"requests", r.requests},
                        {"slo_attainment", r.attainment},
                        {"replica_hours", r.replica_hours},
                        {"p50_ttft_s", r.p50_ttft_s},
                        {"p99_ttft_s", r.p99_ttft_s},
                        {"max_replicas", r.max_replicas},
                        {"scale_events", r.scale_events}};
    const double share = share_of_static(run, r);
    j["replica_hours_vs_static"] = std::isnan(share) ? nlohmann::json(nullptr) : nlohmann::json(share);
    j["events"] = nlohmann::json::array();
    for (const ScaleEvent& e : r.events)
      j["events"].push_back({{"time_s", e.time_s}, {"from", e.from}, {"to", e.to}, {"reason", e.reason}});
    // Compact rows: [time_s, trace_rps, desired, ready, provisioned].
    j["timeline"] = nlohmann::json::array();
    for (const TimelinePoint& p : r.timeline)
      j["timeline"].push_back({p.time_s, p.trace_rps, p.desired, p.ready, p.provisioned});
    out["results"].push_back(std::move(j));
  }
  return out;
}

// Written by hand: two panels of polylines and a few labels are plain text, and a plotting
// library would be the only dependency of this command.
std::string simulation_svg(const SimulationRun& run) {
  constexpr double W = 960, left = 60, right = 20, panel = 220, gap = 50, top = 40;
  const double plot_w = W - left - right;
  const double H = top + 2 * panel + gap + 60;
  const Trace& t = *run.trace;
  const double t0 = t.start_s(), t1 = t.end_s;
  const double rate_max = std::max(1.0, t.peak_rps() * 1.1);
  int rep_max = 1;
  for (const SimulationResult& r : run.results)
    for (const TimelinePoint& p : r.timeline) rep_max = std::max(rep_max, p.provisioned);
  const double rep_axis = rep_max * 1.1;
  auto x = [&](double time) { return left + plot_w * (time - t0) / (t1 - t0); };
  auto y_rate = [&](double v) { return top + panel * (1 - v / rate_max); };
  const double top2 = top + panel + gap;
  auto y_rep = [&](double v) { return top2 + panel * (1 - v / rep_axis); };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:g}\" height=\"{1:g}\" viewBox=\"0 0 {0:g} {1:g}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  s += fmt::format("<text x=\"{:g}\" y=\"20\" font-size=\"14\">{}: arrival rate and replicas</text>\n", left,
                   run.trace_name);
  for (const double panel_top : {top, top2})
    s += fmt::format("<rect x=\"{:g}\" y=\"{:g}\" width=\"{:g}\" height=\"{:g}\" fill=\"none\" stroke=\"#999\"/>\n", left,
                     panel_top, plot_w, panel);
  s += fmt::format("<text x=\"{:g}\" y=\"{:g}\">req/s (max {:.0f})</text>\n", left + 5, top + 15, rate_max);
  s += fmt::format("<text x=\"{:g}\" y=\"{:g}\">replicas provisioned (max {:.0f})</text>\n", left + 5, top2 + 15, rep_axis);
  const double hours = (t1 - t0) / 3600;
  const double step_h = hours > 12 ? 3 : 1;
  for (double h = 0; h <= hours + 1e-9; h += step_h)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:g}\" text-anchor=\"middle\">{:g} h</text>\n", x(t0 + h * 3600),
                     top2 + panel + 16, h);

  std::string rate = "<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1\" points=\"";
  for (const TraceRow& r : t.rows) rate += fmt::format("{:.1f},{:.1f} ", x(r.time_s), y_rate(r.rate_rps));
  s += rate + "\"/>\n";

  for (std::size_t i = 0; i < run.results.size(); ++i) {
    const SimulationResult& r = run.results[i];
    const char* colour = kColours[i % std::size(kColours)];
    std::string line = fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"", colour);
    for (const TimelinePoint& p : r.timeline) line += fmt::format("{:.1f},{:.1f} ", x(p.time_s), y_rep(p.provisioned));
    s += line + "\"/>\n";
    const double ly = top2 + panel + 36;
    const double lx = left + 200 * static_cast<double>(i);
    s += fmt::format("<rect x=\"{:g}\" y=\"{:g}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", lx, ly - 10, colour);
    s += fmt::format("<text x=\"{:g}\" y=\"{:g}\">{} ({:.2f}% SLO, {:.0f} replica-h)</text>\n", lx + 16, ly, r.policy,
                     r.attainment * 100, r.replica_hours);
  }
  s += "</svg>\n";
  return s;
}

}  // namespace tide::autoscaler
