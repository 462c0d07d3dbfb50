#pragma once
// How a step's rows are attended: in runs attended alike, in batch order. Decode rows and short
// chunks are attended row by row, each over its own context, consecutive sequences in one run; a
// long prefill chunk is attended as a whole, alone in its run. Which chunks count as long is the
// backend's call, per family:
//   - MLA (DeepSeek): row by row is the absorbed form (each query folded through W_UK, attention
//     over the latent cache); a whole chunk the expanded form (its context put through kv_b_proj
//     once, then ordinary attention), where that costs less than reading the context per row;
//   - grouped-query attention (Llama, Qwen2): a whole chunk goes through the flash prefill kernel.
#include <cstdint>
#include <functional>
#include <vector>

#include "model/batch.h"
#include "model/batch_layout.h"

namespace tide {

struct AttentionRun {
  int64_t first_row = 0, rows = 0;
  int first_sequence = 0, sequences = 0;
  int context = 0;  // a whole chunk's: the sequence's context once this chunk is in
  bool whole_chunk = false;
};

std::vector<AttentionRun> plan_attention_runs(const Batch& batch, const BatchLayout& layout,
                                              const std::function<bool(const SequenceStep&)>& whole_chunk);

}  // namespace tide
