// DeepSeek's routers on hand-made logits, with the expected experts and gate weights worked out
// in the test from the V2 and V3 reference definitions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/deepseek/moe_router.h"

namespace tide {
namespace {

ModelConfig router_config(const std::string& model_type, int experts, int top_k) {
  ModelConfig c;
  c.model_type = model_type;
  c.family = ModelFamily::DeepSeek;
  c.n_routed_experts = experts;
  c.num_experts_per_tok = top_k;
  return c;
}

// Choices ordered by expert, so the test does not depend on the order the router lists them in.
std::vector<ExpertChoice> route(const std::vector<float>& logits, const std::vector<float>& bias, const ModelConfig& c) {
  auto chosen = route_token(logits, bias, c);
  std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) { return a.expert < b.expert; });
  return chosen;
}

std::vector<int> experts_of(const std::vector<ExpertChoice>& chosen) {
  std::vector<int> experts;
  for (const auto& c : chosen) experts.push_back(c.expert);
  return experts;
}

std::vector<double> softmax(const std::vector<float>& logits) {
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l));
  std::vector<double> p;
  for (float l : logits) p.push_back(std::exp(double(l)) / sum);
  return p;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

constexpr double kTolerance = 1e-6;

TEST(MoeRouterTest, V2SoftmaxGreedyScalesUnnormalisedProbabilities) {
  ModelConfig c = router_config("deepseek_v2", 4, 2);
  c.routed_scaling_factor = 2.0;
  const std::vector<float> logits = {1, 3, 2, 0};
  const auto p = softmax(logits);
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{1, 2}));
  EXPECT_NEAR(chosen[0].weight, 2.0 * p[1], kTolerance);
  EXPECT_NEAR(chosen[1].weight, 2.0 * p[2], kTolerance);
}

TEST(MoeRouterTest, V2NormalisedTopKIsNotScaled) {
  ModelConfig c = router_config("deepseek_v2", 4, 2);
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.0;
  const std::vector<float> logits = {1, 3, 2, 0};
  const auto p = softmax(logits);
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{1, 2}));
  EXPECT_NEAR(chosen[0].weight, p[1] / (p[1] + p[2]), kTolerance);
  EXPECT_NEAR(chosen[1].weight, p[2] / (p[1] + p[2]), kTolerance);
}

TEST(MoeRouterTest, V2SingleExpertIsScaledEvenWhenNormalisationIsAsked) {
  // Normalising one weight would make it 1; V2 normalises only for top_k > 1 and scales otherwise.
  ModelConfig c = router_config("deepseek_v2", 4, 1);
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 3.0;
  const std::vector<float> logits = {1, 3, 2, 0};
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), std::vector<int>{1});
  EXPECT_NEAR(chosen[0].weight, 3.0 * softmax(logits)[1], kTolerance);
}

TEST(MoeRouterTest, GroupLimitedGreedyRanksGroupsByTheirBestExpert) {
  // Groups of two. Best scores: g0 5.0, g1 4.95, g2 4.96, g3 -10, so g0 and g2 are kept. Expert 2
  // (4.95) would be the third pick without groups, and g1 would win if groups were ranked by the
  // sum of their two best; it is dropped all the same, and expert 1 (4.9) is chosen instead.
  ModelConfig c = router_config("deepseek_v2", 8, 3);
  c.topk_method = "group_limited_greedy";
  c.n_group = 4;
  c.topk_group = 2;
  c.routed_scaling_factor = 1.5;
  const std::vector<float> logits = {5.0f, 4.9f, 4.95f, 4.94f, 4.96f, -10.f, -10.f, -10.f};
  const auto p = softmax(logits);
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{0, 1, 4}));
  EXPECT_NEAR(chosen[0].weight, 1.5 * p[0], kTolerance);
  EXPECT_NEAR(chosen[1].weight, 1.5 * p[1], kTolerance);
  EXPECT_NEAR(chosen[2].weight, 1.5 * p[4], kTolerance);
}

ModelConfig v3_config(int experts, int top_k, int groups, int kept_groups) {
  ModelConfig c = router_config("deepseek_v3", experts, top_k);
  c.scoring_func = "sigmoid";
  c.topk_method = "noaux_tc";
  c.n_group = groups;
  c.topk_group = kept_groups;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  return c;
}

TEST(MoeRouterTest, V3BiasSteersSelectionButNotWeights) {
  ModelConfig c = v3_config(8, 2, 4, 2);
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.4f, 0.3f, 0.2f, -1.0f, 0.1f};
  const std::vector<float> bias = {0, 0, 0, 0, 0, 0, 3.0f, 0};
  // Unbiased, experts 0 and 1 would win. With the bias, group {6, 7} scores
  // sigmoid(-1) + 3 + sigmoid(0.1) and is kept with group {0, 1}; expert 6 is chosen.
  const auto chosen = route(logits, bias, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{0, 6}));
  const double s0 = sigmoid(2.0), s6 = sigmoid(-1.0);
  EXPECT_NEAR(chosen[0].weight, 2.5 * s0 / (s0 + s6), kTolerance);
  EXPECT_NEAR(chosen[1].weight, 2.5 * s6 / (s0 + s6), kTolerance);

  const auto unbiased = route(logits, {}, c);
  EXPECT_EQ(experts_of(unbiased), (std::vector<int>{0, 1}));
}

TEST(MoeRouterTest, V3RanksGroupsByTheSumOfTheirTwoBestScores) {
  // g0's best expert beats everything, but g1's two experts together outscore g0's pair.
  ModelConfig c = v3_config(8, 2, 4, 1);
  const std::vector<float> logits = {3.0f, -5.f, 1.0f, 0.9f, -6.f, -6.f, -6.f, -6.f};
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{2, 3}));
  const double s2 = sigmoid(1.0), s3 = sigmoid(0.9);
  EXPECT_NEAR(chosen[0].weight, 2.5 * s2 / (s2 + s3), kTolerance);
  EXPECT_NEAR(chosen[1].weight, 2.5 * s3 / (s2 + s3), kTolerance);
}

TEST(MoeRouterTest, V3WithoutNormalisationScalesRawSigmoidScores) {
  ModelConfig c = v3_config(4, 2, 1, 1);
  c.norm_topk_prob = false;
  const std::vector<float> logits = {0.5f, -0.5f, 1.5f, 0.f};
  const auto chosen = route(logits, {}, c);
  ASSERT_EQ(experts_of(chosen), (std::vector<int>{0, 2}));
  EXPECT_NEAR(chosen[0].weight, 2.5 * sigmoid(0.5), kTolerance);
  EXPECT_NEAR(chosen[1].weight, 2.5 * sigmoid(1.5), kTolerance);
}

TEST(MoeRouterTest, TiedScoresGoToTheLowerExpert) {
  ModelConfig c = router_config("deepseek_v2", 5, 2);
  const auto chosen = route({1, 2, 2, 2, 0}, {}, c);
  EXPECT_EQ(experts_of(chosen), (std::vector<int>{1, 2}));
}

TEST(MoeRouterTest, TiedGroupsGoToTheLowerGroup) {
  ModelConfig c = router_config("deepseek_v2", 6, 1);
  c.topk_method = "group_limited_greedy";
  c.n_group = 3;
  c.topk_group = 1;
  const auto chosen = route({0, 1, 1, 0, 1, 0}, {}, c);
  EXPECT_EQ(experts_of(chosen), std::vector<int>{1});
}

}  // namespace
}  // namespace tide
