#include "backend/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>

namespace tide::cpu {

double measure_read_bandwidth(std::size_t bytes, int repeats) {
  const std::size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> buffer(new float[n]);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(i & 0xff);  // first touch on each core

  double best = 0;
  volatile float sink = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    float total = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : total)
    for (std::size_t i = 0; i < n; ++i) total += buffer[i];
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink = sink + total;
    best = std::max(best, static_cast<double>(n * sizeof(float)) / seconds / 1e9);
  }
  return best;
}

}  // namespace tide::cpu
