#include "model/batch_layout.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "tensor/gumbel.h"

namespace tide {

BatchLayout::BatchLayout(const Batch& batch) {
  int64_t offset = 0;
  for (const auto& s : batch.sequences) {
    token_offset.push_back(offset);
    for (int64_t i = 0; i < s.num_tokens; ++i) positions.push_back(s.start_position + i);
    offset += s.num_tokens;
  }
}

void check_batch(const Batch& batch, const ModelConfig& config, const KvCache& cache) {
  if (cache.num_layers() != config.num_layers)
    fail("batch: the KV cache has {} layers, the model {}", cache.num_layers(), config.num_layers);
  int64_t total = 0;
  for (const auto& s : batch.sequences) {
    if (s.num_tokens < 1) fail("batch: a sequence has no new tokens");
    if (s.pick && s.all_logits) fail("batch: a sequence whose token the model picks cannot ask for all its logits");
    if (s.pick && !(s.temperature >= 0.f && s.temperature <= 100.f))
      fail("batch: a picking temperature must be in [0, 100], got {}", s.temperature);
    const int64_t end = s.start_position + s.num_tokens;
    if (static_cast<int64_t>(s.block_table.size()) * cache.block_size() < end)
      fail("batch: block table of {} blocks cannot hold {} tokens", s.block_table.size(), end);
    for (int32_t b : s.block_table)
      if (b < 0 || b >= cache.num_blocks()) fail("batch: block id {} outside the cache", b);
    total += s.num_tokens;
  }
  if (total != static_cast<int64_t>(batch.tokens.size())) fail("batch: token count does not match its sequences");
  for (int32_t t : batch.tokens)
    if (t < 0 || t >= config.vocab_size) fail("token id {} is outside the vocabulary (0..{})", t, config.vocab_size - 1);
}

std::vector<int64_t> picked_logit_rows(const Batch& batch) {
  std::vector<int64_t> rows;
  int64_t row = 0;
  for (const auto& s : batch.sequences) {
    rows.push_back(s.pick ? row : -1);
    row += s.all_logits ? s.num_tokens : 1;
  }
  return rows;
}

int32_t pick_token(const float* row, int64_t vocab, float temperature, uint64_t seed) {
  if (temperature <= 0.f) return static_cast<int32_t>(std::max_element(row, row + vocab) - row);  // first maximum
  // fmaf, so that the host and the GPU (sample_rows) round alike.
  const float inv = 1.f / temperature;
  float best_value = -INFINITY;
  int32_t best = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (!std::isfinite(row[i])) continue;
    const float v = std::fmaf(row[i], inv, gumbel_noise(seed, i));
    if (v > best_value) {
      best_value = v;
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace tide
