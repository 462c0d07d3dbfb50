#pragma once
// The machine's sustained memory read bandwidth, measured the way decode reads weights: every
// core streaming through a buffer far larger than the caches. Benchmarks state their own
// throughput against this number, measured in the same run.
#include <cstddef>

namespace tide::cpu {

// Best of `repeats` full reads of a `bytes`-sized buffer, in GB/s (1e9 bytes per second).
double measure_read_bandwidth(std::size_t bytes = std::size_t{1} << 30, int repeats = 5);

}  // namespace tide::cpu
