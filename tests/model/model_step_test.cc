// Model::step on the host: the greedy sequences' next tokens are the first maximum of the rows
// forward() gives them, and every other sequence's rows come back unchanged, in batch order.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "decode_support.h"
#include "fixture_support.h"
#include "model/model.h"

namespace tide {
namespace {

using testing::block_range;
using testing::model_fixture;

TEST(ModelStep, GreedySequencesGetTheirArgmaxAndTheOthersTheirRows) {
  const auto model = load_model(model_fixture("deepseek-v3-tiny"));
  const int vocab = model->config().vocab_size;
  auto cache = model->make_kv_cache(8, testing::kDecodeBlockSize);
  const std::vector<int32_t> a = {5, 17, 300, 2}, b = {9, 9, 41}, c = {100, 7, 8, 250, 11};
  const std::vector<int32_t> ta = block_range(0, 2), tb = block_range(2, 2), tc = block_range(4, 2);
  auto batch_of = [&](bool greedy) {
    Batch batch;
    for (const auto* p : {&a, &b, &c}) batch.tokens.insert(batch.tokens.end(), p->begin(), p->end());
    batch.sequences = {{.num_tokens = 4, .start_position = 0, .block_table = ta, .greedy = greedy},
                       {.num_tokens = 3, .start_position = 0, .block_table = tb, .all_logits = true},
                       {.num_tokens = 5, .start_position = 0, .block_table = tc, .greedy = greedy}};
    return batch;
  };
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

TEST(ModelStep, AGreedySequenceCannotAskForAllItsLogits) {
  const auto model = load_model(model_fixture("deepseek-v3-tiny"));
  auto cache = model->make_kv_cache(2, testing::kDecodeBlockSize);
  const std::vector<int32_t> table = block_range(0, 1);
  Batch batch{{1, 2}, {{.num_tokens = 2, .start_position = 0, .block_table = table, .all_logits = true, .greedy = true}}};
  EXPECT_THROW(model->step(batch, *cache), Error);
}

}  // namespace
}  // namespace tide
