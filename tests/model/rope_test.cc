// Rotary frequencies against an independent double-precision transcription of the reference
// formulas: DeepSeek's YaRN (find_correction_dim/range, linear ramp, mscale) and llama3's
// wavelength bands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/json_file.h"
#include "fixture_support.h"
#include "model/rope.h"

namespace tide {
namespace {

constexpr double kPi = std::numbers::pi;

ModelConfig fixture_config(const std::string& name) {
  auto path = testing::model_fixture(name) / "config.json";
  return parse_model_config(read_json_file(path), path.string());
}

struct Rotation {
  std::vector<double> frequencies;  // radians per position
  std::vector<double> magnitudes;   // length of (cos, sin)
};

// The table's frequencies read back from the rotation of position 1 (every angle is below π).
Rotation rotation_at_one(const RotaryEmbedding& rope) {
  std::vector<float> cos(rope.dim() / 2), sin(rope.dim() / 2);
  rope.cos_sin(1, cos.data(), sin.data());
  Rotation r;
  for (int i = 0; i < rope.dim() / 2; ++i) {
    r.frequencies.push_back(std::atan2(double(sin[i]), double(cos[i])));
    r.magnitudes.push_back(std::hypot(double(sin[i]), double(cos[i])));
  }
  return r;
}

std::vector<double> default_frequencies(double base, int dim) {
  std::vector<double> f;
  for (int i = 0; i < dim; i += 2) f.push_back(1.0 / std::pow(base, double(i) / dim));
  return f;
}

// DeepSeek's yarn_find_correction_dim / yarn_find_correction_range / yarn_linear_ramp_mask.
double find_correction_dim(double rotations, int dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2 * kPi)) / (2 * std::log(base));
}

std::vector<double> yarn_frequencies(const ModelConfig& c, int dim) {
  const RopeScaling& r = c.rope_scaling;
  const double max_pos = r.original_max_position_embeddings;
  const double low = std::max(std::floor(find_correction_dim(r.beta_fast, dim, c.rope_theta, max_pos)), 0.0);
  double high = std::min(std::ceil(find_correction_dim(r.beta_slow, dim, c.rope_theta, max_pos)), dim - 1.0);
  if (low == high) high += 0.001;
  const auto extra = default_frequencies(c.rope_theta, dim);
  std::vector<double> f;
  for (int i = 0; i < dim / 2; ++i) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double mask = 1.0 - ramp;
    const double inter = extra[i] / r.factor;
    f.push_back(inter * (1 - mask) + extra[i] * mask);
  }
  return f;
}

double get_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

void expect_frequencies(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-6 * expected[i]) << "frequency " << i;
}

TEST(RopeTest, YarnFrequenciesOfTheV3FixtureFollowTheRamp) {
  const ModelConfig c = fixture_config("deepseek-v3-tiny");
  RotaryEmbedding rope(c, c.qk_rope_head_dim);
  EXPECT_TRUE(rope.interleaved());
  const auto expected = yarn_frequencies(c, 8);
  // dim 8, 64 original positions: the ramp runs from dimension 0 to 2, so frequency 0 is kept,
  // 1 is half interpolated and 2, 3 are divided by the factor.
  EXPECT_NEAR(expected[0], 1.0, 1e-12);
  EXPECT_NEAR(expected[1], 0.5 * 0.1 + 0.5 * 0.1 / 4, 1e-12);
  EXPECT_NEAR(expected[3], std::pow(10000.0, -0.75) / 4, 1e-12);
  const auto got = rotation_at_one(rope);
  expect_frequencies(got.frequencies, expected);
  for (double m : got.magnitudes) EXPECT_NEAR(m, 1.0, 1e-6);  // mscale == mscale_all_dim
}

TEST(RopeTest, YarnFrequenciesAtDeepSeekV3FullScale) {
  ModelConfig c = fixture_config("deepseek-v3-tiny");
  c.qk_rope_head_dim = 64;
  c.rope_scaling.factor = 40;
  c.rope_scaling.original_max_position_embeddings = 4096;
  RotaryEmbedding rope(c, 64);
  const auto expected = yarn_frequencies(c, 64);
  // The ramp spans dimensions 10..23 here: both ends and the middle are exercised.
  EXPECT_NEAR(expected[9], default_frequencies(10000, 64)[9], 1e-15);
  EXPECT_NEAR(expected[31], default_frequencies(10000, 64)[31] / 40, 1e-15);
  expect_frequencies(rotation_at_one(rope).frequencies, expected);
}

TEST(RopeTest, YarnMagnitudeIsTheRatioOfTheTwoMscales) {
  ModelConfig c = fixture_config("deepseek-v3-tiny");
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 0.5;
  const double expected = get_mscale(4.0, 1.0) / get_mscale(4.0, 0.5);
  ASSERT_GT(expected, 1.05);
  RotaryEmbedding rope(c, c.qk_rope_head_dim);
  for (double m : rotation_at_one(rope).magnitudes) EXPECT_NEAR(m, expected, 1e-6);
}

TEST(RopeTest, CosSinAtALatePositionRotateByFrequencyTimesPosition) {
  const ModelConfig c = fixture_config("deepseek-v2-lite-tiny");
  RotaryEmbedding rope(c, c.qk_rope_head_dim);
  const auto f = yarn_frequencies(c, c.qk_rope_head_dim);
  std::vector<float> cos(f.size()), sin(f.size());
  rope.cos_sin(200, cos.data(), sin.data());
  for (std::size_t i = 0; i < f.size(); ++i) {
    // float32 angles as in transformers: the error grows with the position.
    EXPECT_NEAR(cos[i], std::cos(200 * f[i]), 1e-4) << i;
    EXPECT_NEAR(sin[i], std::sin(200 * f[i]), 1e-4) << i;
  }
}

TEST(RopeTest, Llama3FrequenciesOfTheFixtureCoverAllThreeBands) {
  const ModelConfig c = fixture_config("llama3-tiny");
  const RopeScaling& r = c.rope_scaling;
  RotaryEmbedding rope(c, c.head_dim);
  EXPECT_FALSE(rope.interleaved());
  const double old_len = r.original_max_position_embeddings;
  const double low_wavelen = old_len / r.low_freq_factor, high_wavelen = old_len / r.high_freq_factor;
  std::vector<double> expected;
  int high = 0, medium = 0, low = 0;
  for (double f : default_frequencies(c.rope_theta, c.head_dim)) {
    const double wavelen = 2 * kPi / f;
    if (wavelen < high_wavelen) {
      expected.push_back(f), ++high;
    } else if (wavelen > low_wavelen) {
      expected.push_back(f / r.factor), ++low;
    } else {
      const double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      expected.push_back((1 - smooth) * f / r.factor + smooth * f), ++medium;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(medium, 0);
  EXPECT_GT(low, 0);
  const auto got = rotation_at_one(rope);
  expect_frequencies(got.frequencies, expected);
  for (double m : got.magnitudes) EXPECT_NEAR(m, 1.0, 1e-6);
}

TEST(RopeTest, LinearScalingDividesEveryFrequency) {
  ModelConfig c = fixture_config("qwen2-tiny");
  c.rope_scaling.type = RopeScaling::Type::Linear;
  c.rope_scaling.factor = 2.0;
  RotaryEmbedding rope(c, c.head_dim);
  auto expected = default_frequencies(c.rope_theta, c.head_dim);
  for (double& f : expected) f /= 2.0;
  expect_frequencies(rotation_at_one(rope).frequencies, expected);
}

TEST(RopeTest, UnscaledFrequenciesAreThePowersOfTheBase) {
  const ModelConfig c = fixture_config("qwen2-tiny");
  RotaryEmbedding rope(c, c.head_dim);
  expect_frequencies(rotation_at_one(rope).frequencies, default_frequencies(c.rope_theta, c.head_dim));
}

TEST(RopeTest, MlaSoftmaxScaleIncludesMscaleAllDimSquared) {
  const ModelConfig v3 = fixture_config("deepseek-v3-tiny");
  const double m3 = 0.1 * 1.0 * std::log(4.0) + 1.0;
  EXPECT_NEAR(mla_softmax_scale(v3), m3 * m3 / std::sqrt(24.0), 1e-7);

  const ModelConfig v2 = fixture_config("deepseek-v2-lite-tiny");
  const double m2 = 0.1 * 0.707 * std::log(4.0) + 1.0;
  EXPECT_NEAR(mla_softmax_scale(v2), m2 * m2 / std::sqrt(24.0), 1e-7);

  ModelConfig no_all_dim = v3;
  no_all_dim.rope_scaling.mscale_all_dim = 0.0;
  EXPECT_NEAR(mla_softmax_scale(no_all_dim), 1 / std::sqrt(24.0), 1e-7);

  ModelConfig unscaled = v3;
  unscaled.rope_scaling = {};
  EXPECT_NEAR(mla_softmax_scale(unscaled), 1 / std::sqrt(24.0), 1e-7);
}

TEST(RopeTest, YarnMscaleIsOneWithoutExtension) {
  EXPECT_DOUBLE_EQ(yarn_mscale(1.0, 0.707), 1.0);
  EXPECT_DOUBLE_EQ(yarn_mscale(40.0, 1.0), 0.1 * std::log(40.0) + 1.0);
}

}  // namespace
}  // namespace tide
