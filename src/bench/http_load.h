#pragma once
// An open-loop load generator for one small, fixed HTTP request at high rates (thousands per
// second), to measure what a proxy adds: `tide bench http` (docs/benchmarks.md).
//
// Request i is due at start + i / rate whatever the server does. It goes out on the first idle
// keep-alive connection; when every connection is busy it waits, and its latency still counts
// from when it was due. So a server that stalls for 10 ms is charged those 10 ms on every
// request that was due meanwhile, instead of the client quietly sending less (coordinated
// omission, which a closed-loop tool like wrk hides). One thread drives every connection with
// asynchronous I/O, so the generator costs one core however many connections it holds.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/progress.h"

namespace tide::bench {

struct HttpLoadConfig {
  std::string host = "127.0.0.1";  // loopback only (base_url.h)
  uint16_t port = 0;
  std::string method = "POST";
  std::string path = "/v1/completions";
  std::string body;
  std::string content_type = "application/json";
  double rate = 5000;        // requests per second, constant gaps
  double duration_s = 20;    // measured part of the run
  double warmup_s = 1;       // sent on the same schedule before it, not counted
  int64_t max_requests = 0;  // measured requests at most; 0 = rate * duration
  int connections = 64;
  double timeout_s = 5;      // per request, from when it went out
};

struct HttpLoadResult {
  int64_t scheduled = 0;  // measured requests due within the run
  int64_t sent = 0;
  int64_t ok = 0;         // 2xx
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;  // by kind: "http_<status>", "io" (reset, closed), "timeout"
  int64_t connect_errors = 0;             // failed reconnects after a connection was lost
  std::vector<double> latency_us;         // successful requests, from when each was due
  std::vector<double> service_us;         // the same, from when each went out
  double duration_s = 0;                  // first measured due time to the last measured answer
  int64_t max_waiting = 0;                // most requests due but waiting for a connection
};

// Connects every connection first (throws tide::Error when the server cannot be reached), then
// runs the schedule. Returns once every measured request has ended.
// `counters` feed a progress line (progress.h).
HttpLoadResult run_http_load(const HttpLoadConfig& config, Counters& counters);

}  // namespace tide::bench
