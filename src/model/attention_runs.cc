#include "model/attention_runs.h"

namespace tide {

std::vector<AttentionRun> plan_attention_runs(const Batch& batch, const BatchLayout& layout,
                                              const std::function<bool(const SequenceStep&)>& whole_chunk) {
  std::vector<AttentionRun> runs;
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    const bool whole = whole_chunk(seq);
    if (!whole && !runs.empty() && !runs.back().whole_chunk) {
      runs.back().rows += seq.num_tokens;
      ++runs.back().sequences;
      continue;
    }
    runs.push_back({.first_row = layout.token_offset[s], .rows = seq.num_tokens, .first_sequence = static_cast<int>(s),
                    .sequences = 1, .context = static_cast<int>(seq.start_position + seq.num_tokens),
                    .whole_chunk = whole});
  }
  return runs;
}

}  // namespace tide
