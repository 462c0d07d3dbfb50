#include "engine/generate.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "engine/sampler.h"

namespace tide {

std::vector<int32_t> generate(const Model& model, const std::vector<int32_t>& prompt, const GenerateOptions& options,
                              const std::function<void(int32_t)>& on_token) {
  const ModelConfig& config = model.config();
  if (prompt.empty()) fail("the prompt is empty; give at least one token");
  if (options.max_tokens < 0) fail("max_tokens must be non-negative");
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + options.max_tokens;
  if (capacity > config.max_position_embeddings)
    fail("prompt ({} tokens) plus max_tokens ({}) exceeds the model's context of {} tokens", prompt.size(),
         options.max_tokens, config.max_position_embeddings);

  constexpr int kBlockSize = 16;
  const int num_blocks = static_cast<int>((capacity + kBlockSize - 1) / kBlockSize);
  const auto cache_owner = model.make_kv_cache(num_blocks, kBlockSize);
  KvCache& cache = *cache_owner;
  std::vector<int32_t> blocks(num_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);

  Sampler sampler(options.sampling, 0x7469646500000000ull ^ prompt.size());
  std::vector<int32_t> out;
  Batch batch{prompt, {{.num_tokens = static_cast<int64_t>(prompt.size()), .start_position = 0, .block_table = blocks}}};
  for (int step = 0; step < options.max_tokens; ++step) {
    auto logits = model.forward(batch, cache);
    const int32_t token = sampler.sample(logits);
    out.push_back(token);
    if (on_token) on_token(token);
    const auto& eos = config.eos_token_ids;
    if (options.stop_at_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) break;
    const int64_t position = batch.sequences[0].start_position + batch.sequences[0].num_tokens;
    batch = Batch{{token}, {{.num_tokens = 1, .start_position = position, .block_table = blocks}}};
  }
  return out;
}

}  // namespace tide
