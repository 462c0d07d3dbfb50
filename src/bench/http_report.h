#pragma once
// What `tide bench http` reports: latency percentiles from each request's due time (the figure
// to judge a proxy by) and from its send time (the server's own service time), the rate
// achieved against the rate asked, and errors by kind. A table for people, JSON for machines.
#include <nlohmann/json.hpp>
#include <string>

#include "bench/http_load.h"

namespace tide::bench {

struct LatencySummary {
  std::size_t count = 0;  // with no values the statistics are 0 and JSON shows them as null
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
LatencySummary summarize_latency(std::vector<double> values);

struct HttpReport {
  nlohmann::json config;  // the run's settings, echoed into the JSON
  HttpLoadResult result;
  double requested_rate = 0;
  double achieved_rate = 0;  // successful answers per second over the measured part
  LatencySummary latency_us, service_us;
};

HttpReport make_http_report(HttpLoadResult result, double requested_rate, nlohmann::json config);
nlohmann::json http_report_json(const HttpReport& report);
std::string http_report_table(const HttpReport& report);

}  // namespace tide::bench
