#pragma once
// Arrival traces for the simulator: CSV rows `time_s,rate_rps`, one per bucket, the rate
// holding from its time until the next row's (the last row lasts as long as the step before
// it). `#` starts a comment; blank lines are skipped; an optional `time_s,rate_rps` header
// may come first. Parsing is strict: every error names the file and line.
#include <string>
#include <string_view>
#include <vector>

namespace tide::autoscaler {

struct TraceRow {
  double time_s = 0;
  double rate_rps = 0;
};

struct Trace {
  std::vector<TraceRow> rows;  // at least two, times strictly increasing
  double end_s = 0;            // where the last row's bucket ends

  double start_s() const { return rows.front().time_s; }
  double peak_rps() const;
  double mean_rps() const;  // time-weighted
};

Trace parse_trace(std::string_view text, const std::string& source);
Trace load_trace(const std::string& path);
// The CSV text of `trace`, with `comment` lines (each prefixed "# ") above the header.
std::string format_trace(const Trace& trace, const std::vector<std::string>& comment);

}  // namespace tide::autoscaler
