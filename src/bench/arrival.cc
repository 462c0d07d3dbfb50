#include "bench/arrival.h"

#include <cmath>

#include "bench/random.h"
#include "common/error.h"

namespace tide::bench {

ArrivalProcess parse_arrival_process(std::string_view name) {
  if (name == "poisson") return ArrivalProcess::poisson;
  if (name == "constant") return ArrivalProcess::constant;
  fail("--arrival '{}': use poisson or constant", name);
}

std::vector<double> arrival_offsets(const ArrivalConfig& config, int count) {
  std::vector<double> offsets(count > 0 ? count : 0, 0.0);
  if (!(config.rate > 0) || std::isinf(config.rate)) return offsets;
  Random random(derive_seed(config.seed, 3));
  const double mean_gap = 1.0 / config.rate;
  for (int i = 1; i < count; ++i) {
    // Constant offsets are computed, not summed, so they stay exact (no drift over long runs).
    offsets[i] = config.process == ArrivalProcess::poisson ? offsets[i - 1] + random.exponential(mean_gap)
                                                           : i / config.rate;
  }
  return offsets;
}

}  // namespace tide::bench
