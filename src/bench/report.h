#pragma once
// The numbers a serving benchmark is judged by, from the per-request measurements: latency
// percentiles (TTFT, TPOT, ITL, end to end), throughput in requests and tokens, goodput under
// an SLO, and errors by kind. Rendered as a table for people and as JSON for machines.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/client_runner.h"
#include "bench/workload.h"

namespace tide::bench {

// The p-th percentile (0..100) of sorted values, interpolating linearly between the two
// nearest ranks (numpy's default, as vLLM's benchmark reports). `sorted` must not be empty.
double percentile(const std::vector<double>& sorted, double p);

struct Summary {
  std::size_t count = 0;  // with no values the statistics are 0 and JSON shows them as null
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
Summary summarize(std::vector<double> values);

// A request is good when it succeeded and meets every SLO given. A request with no TPOT (one
// output token, or not streamed) has no decode speed to miss.
struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  bool any() const { return ttft_ms || tpot_ms; }
};
bool meets_slo(const RequestResult& r, const Slo& slo);

struct Report {
  nlohmann::json config;  // the run's settings, echoed into the JSON
  int num_requests = 0, sent = 0, completed = 0, failed = 0;
  double duration_s = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
  std::optional<int64_t> cached_tokens;  // when the server reports prompt caching
  int usage_missing = 0;                 // completed requests whose token counts were estimated
  double requests_per_s = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  Slo slo;
  std::optional<double> goodput_per_s;  // only with an SLO
  int good = 0;
  Summary ttft_ms, tpot_ms, itl_ms, e2e_ms;
  std::map<std::string, int> errors;                  // by kind
  std::map<std::string, std::string> error_examples;  // the first message of each kind
};

// Token counts come from the server's usage; without it, the planned prompt length and the
// count of chunks carrying text stand in.
Report make_report(const RunResult& run, const std::vector<RequestSpec>& workload, const Slo& slo, nlohmann::json config);

nlohmann::json report_json(const Report& report);
std::string report_table(const Report& report);

}  // namespace tide::bench
