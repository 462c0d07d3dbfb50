#pragma once
// What every backend's forward pass needs to know of a ragged batch before it runs: where each
// sequence's tokens sit in the flattened batch, and that the batch fits the model and its cache.
#include <cstdint>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "tensor/kv_cache.h"

namespace tide {

struct BatchLayout {
  std::vector<int64_t> token_offset;  // first row of sequence s
  std::vector<int64_t> positions;     // position of every token
  explicit BatchLayout(const Batch& batch);
};

// Calls fn(row, sequence, position) for every new token of the batch, in row order.
template <class Fn>
void for_each_new_token(const Batch& batch, const BatchLayout& layout, Fn&& fn) {
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    for (int64_t i = 0; i < seq.num_tokens; ++i) fn(layout.token_offset[s] + i, seq, seq.start_position + i);
  }
}

// Throws tide::Error for a sequence without tokens, a block table that cannot hold the
// sequence or points outside the cache, a token count that does not add up, or a token id
// outside the vocabulary, or a sequence whose token the model picks that asks for all its logits
// or has a temperature outside [0, 100].
void check_batch(const Batch& batch, const ModelConfig& config, const KvCache& cache);

// The row of logits each picked sequence's next token comes from (its last), in sequence order;
// -1 for the others. Rows count as forward() returns them.
std::vector<int64_t> picked_logit_rows(const Batch& batch);

// What Model::step picks from one row of logits (SequenceStep::pick): the argmax at temperature 0,
// else the argmax of row / temperature + gumbel_noise(seed, i). Non-finite logits never win.
int32_t pick_token(const float* row, int64_t vocab, float temperature, uint64_t seed);

}  // namespace tide
