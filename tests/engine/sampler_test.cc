#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <map>

#include "common/error.h"

namespace tide {
namespace {

std::vector<int32_t> draw(const SamplingParams& params, const std::vector<float>& logits, int n, uint64_t seed = 1) {
  Sampler sampler(params, seed);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(sampler.sample(logits));
  return out;
}

TEST(Sampler, GreedyPicksFirstMaximum) {
  std::vector<float> logits = {0.1f, 3.f, -1.f, 3.f};
  EXPECT_EQ(draw({.temperature = 0.f}, logits, 1)[0], 1);
  EXPECT_EQ(draw({.temperature = 0.7f, .top_k = 1}, logits, 1)[0], 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> logits(1000);
  for (int i = 0; i < 1000; ++i) logits[i] = static_cast<float>((i * 37) % 101) / 50.f;
  SamplingParams p{.temperature = 1.f, .seed = 42};
  EXPECT_EQ(draw(p, logits, 50), draw(p, logits, 50));
  SamplingParams q{.temperature = 1.f, .seed = 43};
  EXPECT_NE(draw(p, logits, 50), draw(q, logits, 50));
  // Without a seed in the params, the engine's fallback seed decides.
  EXPECT_EQ(draw({.temperature = 1.f}, logits, 50, 9), draw({.temperature = 1.f}, logits, 50, 9));
}

TEST(Sampler, TopKNeverLeavesTheKBest) {
  std::vector<float> logits = {5.f, 4.f, 3.f, 2.f, 1.f, 0.f};
  for (int32_t t : draw({.temperature = 5.f, .top_k = 2, .seed = 3}, logits, 500)) EXPECT_LT(t, 2);
}

TEST(Sampler, TopPKeepsSmallestSetReachingTheMass) {
  // Probabilities 0.5, 0.25, 0.125, ... : top_p 0.7 keeps exactly the first two.
  std::vector<float> logits;
  for (int i = 0; i < 8; ++i) logits.push_back(-0.6931472f * static_cast<float>(i));
  std::map<int32_t, int> seen;
  for (int32_t t : draw({.temperature = 1.f, .top_p = 0.7f, .seed = 5}, logits, 2000)) seen[t]++;
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[0], seen[1]);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  std::vector<float> logits = {0.f, -0.1f, -5.f, -6.f};  // p ≈ 0.52, 0.47, 0.0035, 0.0013
  for (int32_t t : draw({.temperature = 1.f, .min_p = 0.1f, .seed = 7}, logits, 1000)) EXPECT_LT(t, 2);
}

TEST(Sampler, FrequenciesFollowTheDistribution) {
  std::vector<float> logits = {0.f, 0.6931472f};  // p = 1/3, 2/3
  int ones = 0;
  for (int32_t t : draw({.temperature = 1.f, .seed = 11}, logits, 30000)) ones += t;
  EXPECT_NEAR(ones / 30000.0, 2.0 / 3.0, 0.02);
}

TEST(Sampler, IgnoresNonFiniteLogitsAndRejectsAllNonFinite) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits = {-inf, 1.f, std::nanf("")};
  for (int32_t t : draw({.temperature = 1.f, .seed = 1}, logits, 50)) EXPECT_EQ(t, 1);
  std::vector<float> none = {-inf, -inf};
  EXPECT_THROW(draw({.temperature = 1.f}, none, 1), Error);
}

TEST(Sampler, RejectsOutOfRangeParameters) {
  EXPECT_THROW(Sampler({.temperature = -1.f}, 0), Error);
  EXPECT_THROW(Sampler({.top_p = 0.f}, 0), Error);
  EXPECT_THROW(Sampler({.top_p = 1.5f}, 0), Error);
  EXPECT_THROW(Sampler({.min_p = 2.f}, 0), Error);
  EXPECT_THROW(Sampler({.temperature = std::nanf("")}, 0), Error);
}

}  // namespace
}  // namespace tide
