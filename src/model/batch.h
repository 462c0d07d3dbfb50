#pragma once
// One step of the model over a ragged batch: several sequences, each contributing a run of new
// tokens (a prefill chunk or a single decode token) at its own position, with its own block
// table into the paged KV cache. A single sequence is just a batch of one.
#include <cstdint>
#include <span>
#include <vector>

namespace tide {

struct SequenceStep {
  int64_t num_tokens = 0;      // new tokens of this sequence in `Batch::tokens`
  int64_t start_position = 0;  // tokens of this sequence already in the cache
  std::span<const int32_t> block_table;  // must cover start_position + num_tokens
  bool all_logits = false;     // logits for every new token, not only the last
  // Model::step picks the next token itself and returns no logits row for this sequence (not with
  // all_logits): at temperature 0 the argmax of the last row (ties to the lower id, as Sampler's
  // greedy); above it a draw from softmax(row / temperature), the argmax of row / temperature plus
  // the Gumbel noise of `seed` (tensor/gumbel.h).
  bool pick = false;
  float temperature = 0;
  uint64_t seed = 0;
};

struct Batch {
  std::vector<int32_t> tokens;  // concatenated new tokens, sequence by sequence
  std::vector<SequenceStep> sequences;

  // Rows of the logits output: one per sequence, or num_tokens for an all_logits sequence.
  int64_t num_logit_rows() const {
    int64_t rows = 0;
    for (const auto& s : sequences) rows += s.all_logits ? s.num_tokens : 1;
    return rows;
  }
  // Rows of logits Model::step returns: those of the sequences whose token it does not pick.
  int64_t num_unpicked_logit_rows() const {
    int64_t rows = 0;
    for (const auto& s : sequences)
      if (!s.pick) rows += s.all_logits ? s.num_tokens : 1;
    return rows;
  }
};

}  // namespace tide
