#include "bench/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tide::bench {
namespace {

using json = nlohmann::json;

json summary_json(const Summary& s) {
  auto value = [&](double v) { return s.count ? json(v) : json(nullptr); };
  return {{"count", s.count}, {"mean", value(s.mean)}, {"p50", value(s.p50)}, {"p90", value(s.p90)}, {"p99", value(s.p99)}};
}

std::string summary_row(const char* name, const Summary& s) {
  if (s.count == 0) return fmt::format("  {:<6} {:>10} {:>10} {:>10} {:>10}\n", name, "-", "-", "-", "-");
  return fmt::format("  {:<6} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f}\n", name, s.mean, s.p50, s.p90, s.p99);
}

std::vector<double> in_ms(const std::vector<double>& seconds) {
  std::vector<double> ms(seconds.size());
  std::transform(seconds.begin(), seconds.end(), ms.begin(), [](double s) { return s * 1e3; });
  return ms;
}

}  // namespace

double percentile(const std::vector<double>& sorted, double p) {
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(rank));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (rank - static_cast<double>(below)) * (sorted[above] - sorted[below]);
}

Summary summarize(std::vector<double> values) {
  Summary s;
  s.count = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  s.p50 = percentile(values, 50);
  s.p90 = percentile(values, 90);
  s.p99 = percentile(values, 99);
  s.p999 = percentile(values, 99.9);
  s.max = values.back();
  return s;
}

bool meets_slo(const RequestResult& r, const Slo& slo) {
  if (!r.ok) return false;
  if (slo.ttft_ms && (!r.ttft_s || *r.ttft_s * 1e3 > *slo.ttft_ms)) return false;
  if (slo.tpot_ms)
    if (const auto tpot = r.tpot_s(); tpot && *tpot * 1e3 > *slo.tpot_ms) return false;
  return true;
}

Report make_report(const RunResult& run, const std::vector<RequestSpec>& workload, const Slo& slo, json config) {
  Report report;
  report.config = std::move(config);
  report.slo = slo;
  report.num_requests = static_cast<int>(run.requests.size());
  report.duration_s = run.duration_s;
  std::vector<double> ttft, tpot, itl, e2e;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const RequestResult& r = run.requests[i];
    if (!r.sent) continue;
    ++report.sent;
    if (!r.ok) {
      ++report.failed;
      if (report.errors[r.error]++ == 0) report.error_examples[r.error] = r.error_detail;
      continue;
    }
    ++report.completed;
    if (!r.usage_reported) ++report.usage_missing;
    report.prompt_tokens += r.prompt_tokens.value_or(workload[i].prompt_len);
    report.output_tokens += r.output_tokens;
    if (r.cached_tokens) report.cached_tokens = report.cached_tokens.value_or(0) + *r.cached_tokens;
    if (meets_slo(r, slo)) ++report.good;
    if (r.ttft_s) ttft.push_back(*r.ttft_s);
    if (const auto t = r.tpot_s()) tpot.push_back(*t);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    e2e.push_back(r.e2e_s);
  }
  report.ttft_ms = summarize(in_ms(ttft));
  report.tpot_ms = summarize(in_ms(tpot));
  report.itl_ms = summarize(in_ms(itl));
  report.e2e_ms = summarize(in_ms(e2e));
  if (report.duration_s > 0) {
    report.requests_per_s = report.completed / report.duration_s;
    report.output_tokens_per_s = static_cast<double>(report.output_tokens) / report.duration_s;
    report.total_tokens_per_s = static_cast<double>(report.prompt_tokens + report.output_tokens) / report.duration_s;
    if (slo.any()) report.goodput_per_s = report.good / report.duration_s;
  }
  return report;
}

json report_json(const Report& r) {
  json errors = json::object();
  for (const auto& [kind, count] : r.errors) errors[kind] = {{"count", count}, {"example", r.error_examples.at(kind)}};
  return {
      {"benchmark", "serve"},
      {"config", r.config},
      {"duration_s", r.duration_s},
      {"requests",
       {{"total", r.num_requests}, {"sent", r.sent}, {"completed", r.completed}, {"failed", r.failed},
        {"not_sent", r.num_requests - r.sent}}},
      {"tokens",
       {{"prompt", r.prompt_tokens}, {"output", r.output_tokens},
        {"cached_prompt", r.cached_tokens ? json(*r.cached_tokens) : json(nullptr)},
        {"requests_without_usage", r.usage_missing}}},
      {"throughput",
       {{"requests_per_s", r.requests_per_s}, {"output_tokens_per_s", r.output_tokens_per_s},
        {"total_tokens_per_s", r.total_tokens_per_s},
        {"goodput_requests_per_s", r.goodput_per_s ? json(*r.goodput_per_s) : json(nullptr)},
        {"good_requests", r.goodput_per_s ? json(r.good) : json(nullptr)}}},
      {"slo",
       {{"ttft_ms", r.slo.ttft_ms ? json(*r.slo.ttft_ms) : json(nullptr)},
        {"tpot_ms", r.slo.tpot_ms ? json(*r.slo.tpot_ms) : json(nullptr)}}},
      {"ttft_ms", summary_json(r.ttft_ms)},
      {"tpot_ms", summary_json(r.tpot_ms)},
      {"itl_ms", summary_json(r.itl_ms)},
      {"e2e_ms", summary_json(r.e2e_ms)},
      {"errors", {{"total", r.failed}, {"by_kind", errors}}},
  };
}

std::string report_table(const Report& r) {
  std::string out;
  out += fmt::format("requests    {} completed, {} failed, {} not sent (of {}) in {:.2f} s\n", r.completed, r.failed,
                     r.num_requests - r.sent, r.num_requests, r.duration_s);
  out += fmt::format("tokens      {} prompt{}, {} output{}\n", r.prompt_tokens,
                     r.cached_tokens ? fmt::format(" ({} cached)", *r.cached_tokens) : std::string(), r.output_tokens,
                     r.usage_missing ? fmt::format(" ({} requests without usage: estimated)", r.usage_missing)
                                     : std::string());
  out += fmt::format("throughput  {:.2f} req/s, {:.1f} output tok/s, {:.1f} total tok/s\n", r.requests_per_s,
                     r.output_tokens_per_s, r.total_tokens_per_s);
  if (r.goodput_per_s) {
    std::string slo;
    if (r.slo.ttft_ms) slo += fmt::format(" TTFT <= {:g} ms", *r.slo.ttft_ms);
    if (r.slo.tpot_ms) slo += fmt::format(" TPOT <= {:g} ms", *r.slo.tpot_ms);
    out += fmt::format("goodput     {:.2f} req/s ({} of {} requests met{})\n", *r.goodput_per_s, r.good, r.completed, slo);
  }
  out += fmt::format("\n  {:<6} {:>10} {:>10} {:>10} {:>10}\n", "ms", "mean", "p50", "p90", "p99");
  out += summary_row("TTFT", r.ttft_ms);
  out += summary_row("TPOT", r.tpot_ms);
  out += summary_row("ITL", r.itl_ms);
  out += summary_row("E2E", r.e2e_ms);
  if (!r.errors.empty()) {
    out += "\nerrors";
    for (const auto& [kind, count] : r.errors) out += fmt::format("  {} x{}", kind, count);
    out += "\n";
  }
  return out;
}

}  // namespace tide::bench
