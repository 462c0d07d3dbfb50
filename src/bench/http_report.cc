#include "bench/http_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "bench/report.h"

namespace tide::bench {
namespace {

using json = nlohmann::json;

json summary_json(const Summary& s) {
  auto value = [&](double v) { return s.count ? json(v) : json(nullptr); };
  return {{"count", s.count}, {"mean", value(s.mean)}, {"p50", value(s.p50)},   {"p90", value(s.p90)},
          {"p99", value(s.p99)}, {"p99.9", value(s.p999)}, {"max", value(s.max)}};
}

std::string summary_row(const char* name, const Summary& s) {
  if (s.count == 0) return fmt::format("  {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", name, "-", "-", "-", "-", "-", "-");
  return fmt::format("  {:<8} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f}\n", name, s.mean, s.p50, s.p90,
                     s.p99, s.p999, s.max);
}

}  // namespace

HttpReport make_http_report(HttpLoadResult result, double requested_rate, json config) {
  HttpReport report;
  report.config = std::move(config);
  report.requested_rate = requested_rate;
  report.latency_us = summarize(std::move(result.latency_us));
  report.service_us = summarize(std::move(result.service_us));
  result.latency_us.clear();
  result.service_us.clear();
  if (result.duration_s > 0) report.achieved_rate = static_cast<double>(result.ok) / result.duration_s;
  report.result = std::move(result);
  return report;
}

json http_report_json(const HttpReport& r) {
  const auto& res = r.result;
  return {
      {"benchmark", "http"},
      {"config", r.config},
      {"duration_s", res.duration_s},
      {"requests",
       {{"scheduled", res.scheduled}, {"sent", res.sent}, {"ok", res.ok}, {"failed", res.failed},
        {"not_sent", res.scheduled - res.sent}}},
      {"throughput", {{"requested_per_s", r.requested_rate}, {"achieved_per_s", r.achieved_rate}}},
      {"latency_us", summary_json(r.latency_us)},
      {"service_us", summary_json(r.service_us)},
      {"max_waiting_for_connection", res.max_waiting},
      {"errors", {{"total", res.failed}, {"by_kind", res.errors}, {"reconnect_failures", res.connect_errors}}},
  };
}

std::string http_report_table(const HttpReport& r) {
  const auto& res = r.result;
  std::string out;
  out += fmt::format("requests    {} ok, {} failed, {} not sent (of {}) in {:.2f} s\n", res.ok, res.failed,
                     res.scheduled - res.sent, res.scheduled, res.duration_s);
  out += fmt::format("rate        {:.1f} req/s achieved of {:g} asked; at most {} waited for a connection\n",
                     r.achieved_rate, r.requested_rate, res.max_waiting);
  out += fmt::format("\n  {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "µs", "mean", "p50", "p90", "p99", "p99.9",
                     "max");
  out += summary_row("latency", r.latency_us);
  out += summary_row("service", r.service_us);
  if (!res.errors.empty() || res.connect_errors) {
    out += "\nerrors";
    for (const auto& [kind, count] : res.errors) out += fmt::format("  {} x{}", kind, count);
    if (res.connect_errors) out += fmt::format("  reconnect_failed x{}", res.connect_errors);
    out += "\n";
  }
  return out;
}

}  // namespace tide::bench
