#include "backend/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>

namespace tide::cpu {

// The sum is over 64-bit integers: an integer vector add retires every cycle, so the loop is
// bound by memory alone. (A float sum is bound by the add's 4-cycle latency on one accumulator
// and reported a third of the real bandwidth on a 2-core VM, below what decode itself achieved.)
double measure_read_bandwidth(std::size_t bytes, int repeats) {
  const std::size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[n]);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) buffer[i] = i;  // first touch on each core

  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t total = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : total)
    for (std::size_t i = 0; i < n; ++i) total += buffer[i];
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink = sink + total;
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / seconds / 1e9);
  }
  return best;
}

}  // namespace tide::cpu
