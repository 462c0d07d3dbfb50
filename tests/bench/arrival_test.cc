// Arrival schedules: Poisson gaps average 1/rate and are seeded; constant gaps are exact;
// an infinite rate sends everything at once.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "bench/arrival.h"
#include "common/error.h"

namespace tide::bench {
namespace {

TEST(Arrival, PoissonGapsAverageOneOverRate) {
  const auto offsets = arrival_offsets({.rate = 8.0, .process = ArrivalProcess::poisson, .seed = 5}, 20001);
  ASSERT_EQ(offsets.size(), 20001u);
  EXPECT_EQ(offsets[0], 0.0);
  double sum_sq = 0;
  for (std::size_t i = 1; i < offsets.size(); ++i) {
    const double gap = offsets[i] - offsets[i - 1];
    ASSERT_GE(gap, 0.0);
    sum_sq += gap * gap;
  }
  const double mean = offsets.back() / 20000;
  EXPECT_NEAR(mean, 0.125, 0.125 * 0.03);
  // Exponential: the standard deviation equals the mean (a constant feed would have none).
  EXPECT_NEAR(std::sqrt(sum_sq / 20000 - mean * mean), 0.125, 0.125 * 0.05);
}

TEST(Arrival, SeededAndDeterministic) {
  const ArrivalConfig config{.rate = 3.0, .process = ArrivalProcess::poisson, .seed = 9};
  EXPECT_EQ(arrival_offsets(config, 50), arrival_offsets(config, 50));
  ArrivalConfig other = config;
  other.seed = 10;
  EXPECT_NE(arrival_offsets(config, 50), arrival_offsets(other, 50));
}

TEST(Arrival, ConstantGapsAreExact) {
  const auto offsets = arrival_offsets({.rate = 4.0, .process = ArrivalProcess::constant, .seed = 0}, 5);
  ASSERT_EQ(offsets.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(offsets[i], 0.25 * i);
}

TEST(Arrival, InfiniteRateSendsAllAtOnce) {
  const auto offsets =
      arrival_offsets({.rate = std::numeric_limits<double>::infinity(), .process = ArrivalProcess::poisson}, 10);
  ASSERT_EQ(offsets.size(), 10u);
  for (double t : offsets) EXPECT_EQ(t, 0.0);
}

TEST(Arrival, ParsesProcessNames) {
  EXPECT_EQ(parse_arrival_process("poisson"), ArrivalProcess::poisson);
  EXPECT_EQ(parse_arrival_process("constant"), ArrivalProcess::constant);
  try {
    parse_arrival_process("bursty");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--arrival"), std::string::npos);
  }
}

}  // namespace
}  // namespace tide::bench
