#pragma once
// What `tide bench http` reports: latency percentiles from each request's due time (the figure
// to judge a proxy by) and from its send time (the server's own service time), the rate
// achieved against the rate asked, and errors by kind. A table for people, JSON for machines.
#include <nlohmann/json.hpp>
#include <string>

#include "bench/http_load.h"
#include "bench/report.h"

namespace tide::bench {

struct HttpReport {
  nlohmann::json config;  // the run's settings, echoed into the JSON
  HttpLoadResult result;
  double requested_rate = 0;
  double achieved_rate = 0;  // successful answers per second over the measured part
  Summary latency_us, service_us;
};

HttpReport make_http_report(HttpLoadResult result, double requested_rate, nlohmann::json config);
nlohmann::json http_report_json(const HttpReport& report);
std::string http_report_table(const HttpReport& report);

}  // namespace tide::bench
