#pragma once
// How MLA attends a step's rows: in runs attended alike, in batch order. The absorbed form (each
// query folded through W_UK, attention over the latent cache) serves decode rows and short
// chunks, consecutive sequences in one run; the expanded form (the context put through kv_b_proj
// once, then ordinary attention) serves each long prefill chunk alone. Which chunks count as long
// is the backend's call (where expanding the context once costs less than reading it per row).
#include <cstdint>
#include <functional>
#include <vector>

#include "model/batch.h"
#include "model/batch_layout.h"

namespace tide {

struct MlaRun {
  int64_t first_row = 0, rows = 0;
  int first_sequence = 0, sequences = 0;
  int context = 0;  // expanded: the sequence's context once this chunk is in
  bool expanded = false;
};

std::vector<MlaRun> plan_mla_runs(const Batch& batch, const BatchLayout& layout,
                                  const std::function<bool(const SequenceStep&)>& expanded);

}  // namespace tide
