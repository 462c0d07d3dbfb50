#pragma once
// A clock for deadlines and idle ages, where a few milliseconds do not matter: the kernel's
// monotonic time as of its last tick (CLOCK_MONOTONIC_COARSE), which the vDSO hands out without
// reading the time-stamp counter (a precise read is most of the cost of a clock read, and a
// proxied request used to make some sixteen). It is the clock std::chrono::steady_clock reads
// (CLOCK_MONOTONIC) at tick resolution (1-4 ms), never ahead of it, so its time points compare
// with steady_clock's. Latencies that are reported keep the precise clock.
#include <time.h>

#include <chrono>

namespace tide {

inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                      std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace tide
