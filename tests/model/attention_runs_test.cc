// plan_attention_runs: how both backends split a step's rows between MLA's absorbed and expanded forms.
#include "model/attention_runs.h"

#include <gtest/gtest.h>

#include <vector>

namespace tide {
namespace {

// A batch of sequences with the given new-token counts, each at position 10 (block tables are
// not read by the planner).
Batch batch_of(const std::vector<int64_t>& tokens) {
  Batch batch;
  for (int64_t n : tokens) {
    SequenceStep seq;
    seq.num_tokens = n;
    seq.start_position = 10;
    batch.sequences.push_back(seq);
    batch.tokens.insert(batch.tokens.end(), static_cast<std::size_t>(n), 1);
  }
  return batch;
}

bool long_chunk(const SequenceStep& seq) { return seq.num_tokens >= 64; }

TEST(AttentionRuns, ConsecutiveAbsorbedSequencesShareOneRun) {
  const Batch batch = batch_of({1, 1, 3, 1});
  const auto runs = plan_attention_runs(batch, BatchLayout(batch), long_chunk);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_FALSE(runs[0].whole_chunk);
  EXPECT_EQ(runs[0].first_row, 0);
  EXPECT_EQ(runs[0].rows, 6);
  EXPECT_EQ(runs[0].first_sequence, 0);
  EXPECT_EQ(runs[0].sequences, 4);
}

TEST(AttentionRuns, EachExpandedChunkIsARunOfItsOwnInBatchOrder) {
  const Batch batch = batch_of({1, 100, 70, 2, 1, 64});
  const auto runs = plan_attention_runs(batch, BatchLayout(batch), long_chunk);
  ASSERT_EQ(runs.size(), 5u);
  const std::vector<bool> expanded{false, true, true, false, true};
  const std::vector<int64_t> first_rows{0, 1, 101, 171, 174}, rows{1, 100, 70, 3, 64};
  const std::vector<int> first_sequences{0, 1, 2, 3, 5}, sequences{1, 1, 1, 2, 1};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].whole_chunk, expanded[i]) << "run " << i;
    EXPECT_EQ(runs[i].first_row, first_rows[i]) << "run " << i;
    EXPECT_EQ(runs[i].rows, rows[i]) << "run " << i;
    EXPECT_EQ(runs[i].first_sequence, first_sequences[i]) << "run " << i;
    EXPECT_EQ(runs[i].sequences, sequences[i]) << "run " << i;
  }
  // An expanded run's context is its sequence's, once the chunk is in.
  EXPECT_EQ(runs[1].context, 110);
  EXPECT_EQ(runs[4].context, 74);
}

TEST(AttentionRuns, EveryRowIsInExactlyOneRun) {
  const Batch batch = batch_of({5, 64, 1, 1, 200, 63});
  const auto runs = plan_attention_runs(batch, BatchLayout(batch), long_chunk);
  int64_t next_row = 0;
  for (const AttentionRun& run : runs) {
    EXPECT_EQ(run.first_row, next_row);
    next_row += run.rows;
  }
  EXPECT_EQ(next_row, static_cast<int64_t>(batch.tokens.size()));
}

}  // namespace
}  // namespace tide
