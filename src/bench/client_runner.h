#pragma once
// Sends the workload on its arrival schedule and times every request. Each request runs on a
// worker thread with its own blocking HTTP client (keep-alive connections are reused); workers
// are added whenever every existing one is busy, so an open-loop run never waits on the client.
// A concurrency cap instead holds requests back until one finishes; with an infinite rate that
// is a closed loop of `concurrency` users.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/openai_protocol.h"
#include "bench/progress.h"
#include "bench/workload.h"

namespace tide::bench {

struct Target {
  std::string host;
  uint16_t port = 0;
  Endpoint endpoint = Endpoint::completions;
  std::string model;
  bool stream = true;
  double temperature = 0;  // sampling temperature sent with every request
  double timeout_s = 600;  // per request, end to end
};

struct RequestResult {
  bool sent = false;
  bool ok = false;
  // Why it failed: "http_<status>", "connection", "timeout", "stream_error" (an error event
  // mid-stream), "incomplete_stream" (ended without [DONE]) or "bad_response" (not JSON).
  std::string error;
  std::string error_detail;  // the message behind it, for the log
  bool streamed = false;
  std::optional<double> ttft_s;      // first generated text; a whole response's arrival without --stream
  double e2e_s = 0;
  std::vector<double> itl_s;         // gaps between chunks carrying text, after the first
  int output_tokens = 0;             // usage.completion_tokens, else chunks carrying text
  std::optional<int> prompt_tokens;  // usage.prompt_tokens
  std::optional<int> cached_tokens;  // usage.prompt_tokens_details.cached_tokens
  bool usage_reported = false;

  // (e2e - TTFT) / (output tokens - 1): the decode speed one user sees. Only for streams with
  // at least two output tokens.
  std::optional<double> tpot_s() const;
};

struct RunLimits {
  int concurrency = 0;     // most requests in flight; 0 = no cap
  double duration_s = 0;   // stop sending after this long; 0 = no limit
};

struct RunResult {
  std::vector<RequestResult> requests;  // in workload order; unsent ones have sent == false
  double duration_s = 0;                // from the first send until the last request ended
};

// `offsets` (arrival.h) has one entry per request. Returns when every sent request has ended.
RunResult run_requests(const Target& target, const std::vector<RequestSpec>& workload, const std::vector<double>& offsets,
                       const RunLimits& limits, Counters& counters);

}  // namespace tide::bench
