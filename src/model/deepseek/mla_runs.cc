#include "model/deepseek/mla_runs.h"

namespace tide {

std::vector<MlaRun> plan_mla_runs(const Batch& batch, const BatchLayout& layout,
                                  const std::function<bool(const SequenceStep&)>& expanded) {
  std::vector<MlaRun> runs;
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    const bool expand = expanded(seq);
    if (!expand && !runs.empty() && !runs.back().expanded) {
      runs.back().rows += seq.num_tokens;
      ++runs.back().sequences;
      continue;
    }
    runs.push_back({.first_row = layout.token_offset[s], .rows = seq.num_tokens, .first_sequence = static_cast<int>(s),
                    .sequences = 1, .context = static_cast<int>(seq.start_position + seq.num_tokens),
                    .expanded = expand});
  }
  return runs;
}

}  // namespace tide
