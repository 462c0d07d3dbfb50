#pragma once
// When each request is due, as an offset from the start of the run. An open-loop generator
// sends on this schedule whether or not earlier requests have finished, so a slow server meets
// growing queues instead of a politely slowing client (which hides overload: coordinated
// omission). Closed-loop runs use an infinite rate with a concurrency cap (client_runner.h).
#include <cstdint>
#include <string_view>
#include <vector>

namespace tide::bench {

enum class ArrivalProcess {
  poisson,   // exponential gaps with mean 1/rate: independent users
  constant,  // exactly 1/rate apart: a steady feed, easier to reason about
};

ArrivalProcess parse_arrival_process(std::string_view name);  // throws tide::Error naming --arrival

struct ArrivalConfig {
  double rate = 0;  // requests per second; infinity (or 0) sends everything at once
  ArrivalProcess process = ArrivalProcess::poisson;
  uint64_t seed = 0;
};

// `count` non-decreasing offsets in seconds, the first at 0.
std::vector<double> arrival_offsets(const ArrivalConfig& config, int count);

}  // namespace tide::bench
