// Model::step on the host: the greedy sequences' next tokens are the first maximum of the rows
// forward() gives them, and every other sequence's rows come back unchanged, in batch order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "decode_support.h"
#include "fixture_support.h"
#include "model/batch_layout.h"
#include "model/model.h"
#include "tensor/gumbel.h"

namespace tide {
namespace {

using testing::block_range;
using testing::model_fixture;

TEST(ModelStep, GreedySequencesGetTheirArgmaxAndTheOthersTheirRows) {
  const auto model = load_model(model_fixture("deepseek-v3-tiny"));
  const int vocab = model->config().vocab_size;
  auto cache = model->make_kv_cache(testing::MixedStepBatch::kBlocks, testing::kDecodeBlockSize);
  const testing::MixedStepBatch mixed;
  auto batch_of = [&](bool pick) { return mixed.batch(pick); };
  const std::vector<float> all = model->forward(batch_of(false), *cache);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(5 * vocab));  // 1 + 3 + 1 rows
  const StepOutput out = model->step(batch_of(true), *cache);

  auto argmax_of = [&](int row) {
    const auto first = all.begin() + row * vocab;
    return static_cast<int32_t>(std::max_element(first, first + vocab) - first);
  };
  EXPECT_EQ(out.next_tokens, (std::vector<int32_t>{argmax_of(0), -1, argmax_of(4)}));
  EXPECT_EQ(out.logits, std::vector<float>(all.begin() + vocab, all.begin() + 4 * vocab));

  // Nothing greedy: step() is forward().
  const StepOutput plain = model->step(batch_of(false), *cache);
  EXPECT_EQ(plain.next_tokens, (std::vector<int32_t>{-1, -1, -1}));
  EXPECT_EQ(plain.logits, all);
}

// A picked sequence at a temperature gets pick_token's draw from its row; pick_token itself draws
// from softmax(row / temperature) and never picks a -inf logit.
TEST(ModelStep, APickedSequenceAtATemperatureGetsTheGumbelDrawOfItsRow) {
  const auto model = load_model(model_fixture("deepseek-v3-tiny"));
  const int vocab = model->config().vocab_size;
  auto cache = model->make_kv_cache(2, testing::kDecodeBlockSize);
  const std::vector<int32_t> table = block_range(0, 1);
  Batch plain{{5, 17, 300}, {{.num_tokens = 3, .start_position = 0, .block_table = table}}};
  const std::vector<float> row = model->forward(plain, *cache);
  for (uint64_t seed : {1ull, 2ull, 0x5eedull}) {
    Batch picked = plain;
    picked.sequences[0].pick = true;
    picked.sequences[0].temperature = 0.8f;
    picked.sequences[0].seed = seed;
    const StepOutput out = model->step(picked, *cache);
    ASSERT_EQ(out.next_tokens.size(), 1u);
    EXPECT_EQ(out.next_tokens[0], pick_token(row.data(), vocab, 0.8f, seed));
    EXPECT_TRUE(out.logits.empty());
  }
}

TEST(ModelStep, PickTokenDrawsFromTheSoftmax) {
  const std::vector<float> logits = {0.f, 1.f, 2.f, -INFINITY, 0.5f};
  for (const float t : {1.f, 0.5f}) {
    std::vector<double> expected(logits.size());
    double total = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) total += (expected[i] = std::exp(logits[i] / t));
    std::vector<int> counts(logits.size());
    constexpr int kDraws = 40000;
    for (int d = 0; d < kDraws; ++d)
      ++counts.at(static_cast<std::size_t>(pick_token(logits.data(), static_cast<int64_t>(logits.size()), t,
                                                       step_seed(99, d))));
    EXPECT_EQ(counts[3], 0) << "a -inf logit was picked";
    for (std::size_t i = 0; i < logits.size(); ++i)
      EXPECT_NEAR(counts[i] / double(kDraws), expected[i] / total, 0.01) << "token " << i << " at temperature " << t;
  }
  EXPECT_EQ(pick_token(logits.data(), 5, 0.f, 7), 2) << "temperature 0 is the argmax";
}

TEST(ModelStep, AGreedySequenceCannotAskForAllItsLogits) {
  const auto model = load_model(model_fixture("deepseek-v3-tiny"));
  auto cache = model->make_kv_cache(2, testing::kDecodeBlockSize);
  const std::vector<int32_t> table = block_range(0, 1);
  Batch batch{{1, 2}, {{.num_tokens = 2, .start_position = 0, .block_table = table, .all_logits = true, .pick = true}}};
  EXPECT_THROW(model->step(batch, *cache), Error);
}

}  // namespace
}  // namespace tide
