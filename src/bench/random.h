#pragma once
// Random numbers for workloads and arrival times. The std:: distributions are not specified
// bit for bit, so the same seed could give another workload with another standard library;
// these are, so a seed names one workload everywhere and runs against different servers
// (Tide, vLLM, SGLang) on different machines send the same requests.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace tide::bench {

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}

  // splitmix64: fast, passes BigCrush, and any seed (0 included) is a good one.
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform over [lo, hi], both included. The modulo bias is below 2^-40 for any range used here.
  int64_t uniform_int(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

  // Standard normal (Box-Muller; the second value is dropped to keep the state a single word).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log(0) must not happen
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

  double exponential(double mean) { return -mean * std::log(1.0 - uniform()); }

 private:
  uint64_t state_;
};

// Independent streams from one user seed: lengths, contents and arrivals must not shift when
// another of them draws a different count of numbers.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) { return Random(seed ^ (stream * 0xd1b54a32d192ed03ULL)).next(); }

}  // namespace tide::bench
