#include "autoscaler/policy/trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "common/json_file.h"

namespace tide::autoscaler {
namespace {

constexpr std::size_t kMaxTraceBytes = 64u << 20;
constexpr std::size_t kMaxRows = 1'000'000;
constexpr double kMaxRate = 1e6;              // requests per second; beyond it, a typo
constexpr double kMaxDuration = 366 * 86'400.0;  // a year of simulated time

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

double number(std::string_view text, const std::string& where, std::string_view field) {
  text = trim(text);
  double out = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(out))
    fail("{}: {} \"{}\" is not a number", where, field, text);
  return out;
}

}  // namespace

double Trace::peak_rps() const {
  double peak = 0;
  for (const TraceRow& r : rows) peak = std::max(peak, r.rate_rps);
  return peak;
}

double Trace::mean_rps() const {
  double area = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double next = i + 1 < rows.size() ? rows[i + 1].time_s : end_s;
    area += rows[i].rate_rps * (next - rows[i].time_s);
  }
  return area / (end_s - start_s());
}

Trace parse_trace(std::string_view text, const std::string& source) {
  if (text.size() > kMaxTraceBytes) fail("{}: larger than {} bytes", source, kMaxTraceBytes);
  Trace trace;
  std::size_t line_no = 0;
  bool first_content = true;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const std::string where = fmt::format("{}:{}", source, line_no);
    if (first_content) {
      first_content = false;
      if (line == "time_s,rate_rps") continue;
    }
    const std::size_t comma = line.find(',');
    if (comma == std::string_view::npos || line.find(',', comma + 1) != std::string_view::npos)
      fail("{}: expected two fields, time_s,rate_rps", where);
    const double t = number(line.substr(0, comma), where, "time_s");
    const double rate = number(line.substr(comma + 1), where, "rate_rps");
    if (t < 0 || t > kMaxDuration) fail("{}: time_s {} is outside [0, {:.0f}]", where, t, kMaxDuration);
    if (!trace.rows.empty() && t <= trace.rows.back().time_s)
      fail("{}: time_s {} does not increase (the previous row is at {})", where, t, trace.rows.back().time_s);
    if (rate < 0 || rate > kMaxRate) fail("{}: rate_rps {} is outside [0, {:.0f}]", where, rate, kMaxRate);
    if (trace.rows.size() == kMaxRows) fail("{}: more than {} rows", where, kMaxRows);
    trace.rows.push_back({t, rate});
  }
  if (trace.rows.size() < 2) fail("{}: needs at least two rows (the last lasts as long as the step before it)", source);
  const std::size_t n = trace.rows.size();
  trace.end_s = trace.rows[n - 1].time_s + (trace.rows[n - 1].time_s - trace.rows[n - 2].time_s);
  if (trace.end_s - trace.start_s() > kMaxDuration) fail("{}: longer than {:.0f} s", source, kMaxDuration);
  return trace;
}

Trace load_trace(const std::string& path) {
  return parse_trace(read_text_file(path), path);
}

std::string format_trace(const Trace& trace, const std::vector<std::string>& comment) {
  std::string out;
  for (const std::string& line : comment) out += "# " + line + "\n";
  out += "time_s,rate_rps\n";
  for (const TraceRow& r : trace.rows) out += fmt::format("{:g},{:.3f}\n", r.time_s, r.rate_rps);
  return out;
}

}  // namespace tide::autoscaler
