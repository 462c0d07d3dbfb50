// Model::step for models whose logits are already on the host: the picked sequences' tokens
// here (pick_token), and the other rows handed on as they are.

#include "model/batch_layout.h"
#include "model/model.h"

namespace tide {

StepOutput Model::step(const Batch& batch, KvCache& cache) const {
  const std::vector<float> all = forward(batch, cache);
  const auto vocab = static_cast<std::size_t>(config().vocab_size);
  const std::vector<int64_t> picked_rows = picked_logit_rows(batch);
  StepOutput out;
  out.logits.reserve(all.size());
  std::size_t row = 0;
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    const std::size_t rows = seq.all_logits ? static_cast<std::size_t>(seq.num_tokens) : 1;
    const auto first = all.begin() + static_cast<std::ptrdiff_t>(row * vocab);
    if (picked_rows[s] >= 0) {
      out.next_tokens.push_back(pick_token(&*first, static_cast<int64_t>(vocab), seq.temperature, seq.seed));
    } else {
      out.next_tokens.push_back(-1);
      out.logits.insert(out.logits.end(), first, first + static_cast<std::ptrdiff_t>(rows * vocab));
    }
    row += rows;
  }
  return out;
}

}  // namespace tide
