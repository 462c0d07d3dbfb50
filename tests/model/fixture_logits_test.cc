// The CPU float32 path against the reference fixtures: logits at every position of a full
// forward pass, and greedy decoding through the cached decode path.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "fixture_support.h"
#include "model/model.h"

namespace tide {
namespace {

using testing::all_model_fixtures;
using testing::load_expected;
using testing::model_fixture;
using testing::relative_error;

constexpr int kBlockSize = 16;

std::vector<int32_t> block_range(int first, int count) {
  std::vector<int32_t> blocks(count);
  std::iota(blocks.begin(), blocks.end(), first);
  return blocks;
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, LogitsAtEveryPositionMatchReference) {
  auto dir = model_fixture(GetParam());
  auto model = load_model(dir);
  auto expected = load_expected(dir);
  const int vocab = model->config().vocab_size;
  for (std::size_t p = 0; p < expected.prompts.size(); ++p) {
    const auto& prompt = expected.prompts[p];
    const int n = static_cast<int>(prompt.size());
    PagedKvCache cache(model->config().num_layers, n / kBlockSize + 1, kBlockSize, model->config().kv_entry_dim());
    auto blocks = block_range(0, n / kBlockSize + 1);
    Batch batch{prompt, {{.num_tokens = n, .start_position = 0, .block_table = blocks, .all_logits = true}}};
    auto logits = model->forward(batch, cache);
    ASSERT_EQ(logits.size(), expected.logits[p].size());
    for (int i = 0; i < n; ++i)
      EXPECT_LT(relative_error(logits.data() + i * vocab, expected.logits[p].data() + i * vocab, vocab), 1e-4)
          << GetParam() << " prompt " << p << " position " << i;
  }
}

// Greedy decoding: prefill the prompt, then one token per step through the cached path (for
// MLA, the weight-absorbed form over the latent cache). The reference does not stop at EOS.
std::vector<int32_t> greedy_decode(const Model& model, const std::vector<int32_t>& prompt, int steps,
                                   std::vector<float>* top_logits = nullptr) {
  const int vocab = model.config().vocab_size;
  const int capacity = static_cast<int>(prompt.size()) + steps;
  const int num_blocks = (capacity + kBlockSize - 1) / kBlockSize;
  PagedKvCache cache(model.config().num_layers, num_blocks, kBlockSize, model.config().kv_entry_dim());
  auto blocks = block_range(0, num_blocks);
  std::vector<int32_t> out;
  Batch batch{prompt, {{.num_tokens = static_cast<int64_t>(prompt.size()), .start_position = 0, .block_table = blocks}}};
  for (int s = 0; s < steps; ++s) {
    auto logits = model.forward(batch, cache);
    auto best = std::max_element(logits.begin(), logits.begin() + vocab);
    out.push_back(static_cast<int32_t>(best - logits.begin()));
    if (top_logits) top_logits->push_back(*best);
    const int64_t next_pos = batch.sequences[0].start_position + batch.sequences[0].num_tokens;
    batch = Batch{{out.back()}, {{.num_tokens = 1, .start_position = next_pos, .block_table = blocks}}};
  }
  return out;
}

TEST_P(FixtureTest, GreedyTokensThroughCachedDecodeMatchExactly) {
  auto dir = model_fixture(GetParam());
  auto model = load_model(dir);
  auto expected = load_expected(dir);
  for (std::size_t p = 0; p < expected.prompts.size(); ++p) {
    std::vector<float> top;
    auto tokens = greedy_decode(*model, expected.prompts[p], static_cast<int>(expected.greedy[p].size()), &top);
    EXPECT_EQ(tokens, expected.greedy[p]) << GetParam() << " prompt " << p;
    for (std::size_t i = 0; i < top.size(); ++i)
      EXPECT_NEAR(top[i], expected.greedy_top_logit[p][i], 1e-3 * std::max(1.f, std::abs(expected.greedy_top_logit[p][i])))
          << GetParam() << " prompt " << p << " step " << i;
  }
}

TEST_P(FixtureTest, BatchOfDifferentLengthsEqualsEachSequenceAlone) {
  auto dir = model_fixture(GetParam());
  auto model = load_model(dir);
  auto expected = load_expected(dir);
  const int vocab = model->config().vocab_size;
  // All prompts in one step, each with its own block table (interleaved block ids, so a wrong
  // block-table lookup cannot go unnoticed).
  const int per_seq = 8, nseq = static_cast<int>(expected.prompts.size());
  PagedKvCache cache(model->config().num_layers, per_seq * nseq, kBlockSize, model->config().kv_entry_dim());
  std::vector<std::vector<int32_t>> tables(nseq);
  for (int s = 0; s < nseq; ++s)
    for (int b = 0; b < per_seq; ++b) tables[s].push_back(b * nseq + (nseq - 1 - s));
  Batch batch;
  for (int s = 0; s < nseq; ++s) {
    batch.tokens.insert(batch.tokens.end(), expected.prompts[s].begin(), expected.prompts[s].end());
    batch.sequences.push_back({.num_tokens = static_cast<int64_t>(expected.prompts[s].size()), .start_position = 0,
                               .block_table = tables[s], .all_logits = true});
  }
  auto batched = model->forward(batch, cache);
  int64_t row = 0;
  for (int s = 0; s < nseq; ++s) {
    const int n = static_cast<int>(expected.prompts[s].size());
    PagedKvCache alone_cache(model->config().num_layers, per_seq, kBlockSize, model->config().kv_entry_dim());
    auto blocks = block_range(0, per_seq);
    Batch alone{expected.prompts[s], {{.num_tokens = n, .start_position = 0, .block_table = blocks, .all_logits = true}}};
    auto single = model->forward(alone, alone_cache);
    for (int i = 0; i < n; ++i, ++row)
      EXPECT_LT(relative_error(batched.data() + row * vocab, single.data() + i * vocab, vocab), 1e-6)
          << "sequence " << s << " position " << i;
  }

  // Then a mixed step: every sequence decodes one more token while a new prompt prefills.
  Batch mixed;
  for (int s = 0; s < nseq; ++s) {
    mixed.tokens.push_back(expected.greedy[s][0]);
    mixed.sequences.push_back({.num_tokens = 1, .start_position = static_cast<int64_t>(expected.prompts[s].size()),
                               .block_table = tables[s]});
  }
  auto mixed_logits = model->forward(mixed, cache);
  for (int s = 0; s < nseq; ++s) {
    auto alone_tokens = greedy_decode(*model, expected.prompts[s], 2);
    auto best = std::max_element(mixed_logits.begin() + s * vocab, mixed_logits.begin() + (s + 1) * vocab);
    EXPECT_EQ(best - (mixed_logits.begin() + s * vocab), alone_tokens[1]) << "sequence " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, FixtureTest, ::testing::ValuesIn(all_model_fixtures()),
                         testing::fixture_test_name);

}  // namespace
}  // namespace tide
