#include "autoscaler/policy/holt_winters.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace tide::autoscaler {
namespace {

constexpr double kDay = 86'400;

// 50 ± 30 req/s over the day, with ±2 req/s of uniform noise per 15 s sample.
double truth(double t) { return 50 + 30 * std::sin(2 * M_PI * t / kDay); }

class Noise {
 public:
  double operator()() { return 4 * (static_cast<double>(engine_() >> 11) * 0x1.0p-53) - 2; }

 private:
  std::mt19937_64 engine_{7};
};

TEST(HoltWinters, RecoversADailySeason) {
  HoltWinters hw({.season_s = kDay, .bucket_s = 300});
  Noise noise;
  double error_sum = 0;
  int errors = 0;
  for (double t = 0; t < 3 * kDay; t += 15) {
    // Day 3: before each bucket's first sample, score the one-step-ahead forecast.
    if (t >= 2 * kDay && std::fmod(t, 300) == 0) {
      error_sum += std::abs(hw.forecast(t) - truth(t + 150));
      ++errors;
    }
    hw.observe(t, truth(t) + noise());
  }
  EXPECT_TRUE(hw.seasonal());
  EXPECT_LT(error_sum / errors, 1.5) << "mean absolute error of a 50 ± 30 series, req/s";
  // An hour ahead with no new data: still within 3 req/s of the truth.
  for (double t = 3 * kDay; t < 3 * kDay + 3600; t += 300) EXPECT_NEAR(hw.forecast(t), truth(t + 150), 3) << t;
}

TEST(HoltWinters, BeforeAFullSeasonFollowsLevelAndTrend) {
  HoltWinters hw({.season_s = kDay, .bucket_s = 300, .alpha = 0.5, .beta = 0.3});
  EXPECT_TRUE(hw.empty());
  EXPECT_EQ(hw.forecast(0), 0);
  for (double t = 0; t < 4 * 3600; t += 15) hw.observe(t, 10 + t / 360);  // +10 req/s per hour
  EXPECT_FALSE(hw.seasonal());
  const double now = 4 * 3600;
  // The last closed bucket's mean is about 49.6; half an hour on, the line is at about 55.
  EXPECT_NEAR(hw.forecast(now + 1800), 10 + (now + 1800 + 150) / 360, 2);
  EXPECT_GT(hw.forecast_max(now, now + 1800), hw.forecast(now));
}

TEST(HoltWinters, AGapIsFilledWithTheForecast) {
  HoltWinters hw({.season_s = kDay, .bucket_s = 300});
  for (double t = 0; t < 2 * kDay; t += 15) hw.observe(t, truth(t));
  // Two hours without samples, then the series resumes.
  for (double t = 2 * kDay + 7200; t < 2 * kDay + 9000; t += 15) hw.observe(t, truth(t));
  EXPECT_TRUE(hw.seasonal());
  const double t = 2 * kDay + 9000;
  EXPECT_NEAR(hw.forecast(t), truth(t + 150), 2);
}

TEST(HoltWinters, AGapLongerThanASeasonRestartsLearning) {
  HoltWinters hw({.season_s = kDay, .bucket_s = 300});
  for (double t = 0; t < 1.5 * kDay; t += 15) hw.observe(t, truth(t));
  ASSERT_TRUE(hw.seasonal());
  hw.observe(3 * kDay, 20);
  hw.observe(3 * kDay + 300, 20);
  EXPECT_FALSE(hw.seasonal());
  EXPECT_NEAR(hw.forecast(3 * kDay + 600), 20, 1e-9);
}

TEST(HoltWinters, IgnoresOlderAndNonFiniteSamples) {
  HoltWinters hw({.season_s = kDay, .bucket_s = 300});
  hw.observe(600, 10);
  hw.observe(0, 1000);
  hw.observe(610, std::nan(""));
  hw.observe(900, 10);
  EXPECT_NEAR(hw.forecast(1200), 10, 1e-9);
}

}  // namespace
}  // namespace tide::autoscaler
