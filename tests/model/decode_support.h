#pragma once
// Driving a model the way the engine does, for the accuracy tests of the CUDA and INT8 paths:
// one full pass over a prompt, and cached decoding one token per step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <span>
#include <vector>

#include "fixture_support.h"
#include "model/model.h"

namespace tide::testing {

constexpr int kDecodeBlockSize = 16;

inline std::vector<int32_t> block_range(int first, int count) {
  std::vector<int32_t> blocks(count);
  std::iota(blocks.begin(), blocks.end(), first);
  return blocks;
}

// Logits of every position of `tokens` in one pass.
inline std::vector<float> full_pass(const Model& model, const std::vector<int32_t>& tokens) {
  const int n = static_cast<int>(tokens.size());
  auto cache = model.make_kv_cache(n / kDecodeBlockSize + 1, kDecodeBlockSize);
  auto blocks = block_range(0, n / kDecodeBlockSize + 1);
  Batch batch{tokens, {{.num_tokens = n, .start_position = 0, .block_table = blocks, .all_logits = true}}};
  return model.forward(batch, *cache);
}

// Prefill `prompt`, then one token per step through the cache: each step's input is
// choose(step, logits).
template <typename Choose>
std::vector<int32_t> cached_decode(const Model& model, const std::vector<int32_t>& prompt, int steps, Choose choose) {
  const int vocab = model.config().vocab_size;
  const int num_blocks = (static_cast<int>(prompt.size()) + steps + kDecodeBlockSize - 1) / kDecodeBlockSize;
  auto cache = model.make_kv_cache(num_blocks, kDecodeBlockSize);
  auto blocks = block_range(0, num_blocks);
  std::vector<int32_t> out;
  Batch batch{prompt, {{.num_tokens = static_cast<int64_t>(prompt.size()), .start_position = 0, .block_table = blocks}}};
  for (int s = 0; s < steps; ++s) {
    auto logits = model.forward(batch, *cache);
    out.push_back(choose(s, std::span<const float>(logits.data(), vocab)));
    const int64_t next = batch.sequences[0].start_position + batch.sequences[0].num_tokens;
    batch = Batch{{out.back()}, {{.num_tokens = 1, .start_position = next, .block_table = blocks}}};
  }
  return out;
}

// Three prompts in one step (4, 3 and 5 tokens, one block each from block 0), the middle one asking
// for all its logits; the other two marked `pick` when asked: the batch the step() tests share.
struct MixedStepBatch {
  std::vector<int32_t> a = {5, 17, 300, 2}, b = {9, 9, 41}, c = {100, 7, 8, 250, 11};
  std::vector<int32_t> ta = block_range(0, 1), tb = block_range(1, 1), tc = block_range(2, 1);
  static constexpr int kBlocks = 3;
  Batch batch(bool pick) const {
    Batch out;
    for (const auto* p : {&a, &b, &c}) out.tokens.insert(out.tokens.end(), p->begin(), p->end());
    out.sequences = {{.num_tokens = 4, .start_position = 0, .block_table = ta, .pick = pick},
                     {.num_tokens = 3, .start_position = 0, .block_table = tb, .all_logits = true},
                     {.num_tokens = 5, .start_position = 0, .block_table = tc, .pick = pick}};
    return out;
  }
};

inline int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

inline float top_two_margin(std::span<const float> v) {
  std::vector<float> sorted(v.begin(), v.end());
  std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
  return sorted[0] - sorted[1];
}

// Relative error of the logits at every position of every fixture prompt (one full pass each),
// against the fixture's float32 reference.
struct PositionErrors {
  std::vector<double> sorted;
  double median() const { return sorted[sorted.size() / 2]; }
  double worst() const { return sorted.back(); }
  std::ptrdiff_t at_or_over(double bound) const {
    return sorted.end() - std::lower_bound(sorted.begin(), sorted.end(), bound);
  }
};

inline PositionErrors position_errors(const Model& model, const Expected& expected) {
  const int vocab = model.config().vocab_size;
  PositionErrors e;
  for (std::size_t p = 0; p < expected.prompts.size(); ++p) {
    const auto logits = full_pass(model, expected.prompts[p]);
    EXPECT_EQ(logits.size(), expected.logits[p].size()) << "prompt " << p;
    if (logits.size() != expected.logits[p].size()) continue;
    for (std::size_t i = 0; i < expected.prompts[p].size(); ++i)
      e.sorted.push_back(relative_error(logits.data() + i * vocab, expected.logits[p].data() + i * vocab, vocab));
  }
  std::sort(e.sorted.begin(), e.sorted.end());
  return e;
}

// Greedy decoding of `tested` against the fixture's tokens `want`, step by step up to the first
// step whose reference margin (the top two logits of `reference`, a float32 model that
// reproduces the fixture, fed `want`) is within 2 × tolerance × the logits' rms: an error of
// tolerance·‖logits‖ moves each logit by about tolerance·rms, so past a near tie the two may
// rightly part.
struct GreedyComparison {
  int compared = 0;        // steps whose margin was clear
  int mismatch_step = -1;  // the first clear step where the tokens differ, or -1
  int32_t got = 0;
  float margin = 0;
};

inline GreedyComparison compare_greedy(const Model& tested, const Model& reference, const std::vector<int32_t>& prompt,
                                       const std::vector<int32_t>& want, double tolerance) {
  const int steps = static_cast<int>(want.size());
  std::vector<float> margin(steps), rms(steps);
  cached_decode(reference, prompt, steps, [&](int s, std::span<const float> logits) {
    margin[s] = top_two_margin(logits);
    double sum = 0;
    for (float v : logits) sum += double(v) * v;
    rms[s] = static_cast<float>(std::sqrt(sum / logits.size()));
    return want[s];
  });
  const auto got = cached_decode(tested, prompt, steps, [](int, std::span<const float> logits) { return argmax(logits); });
  GreedyComparison result;
  for (int s = 0; s < steps && margin[s] > 2 * tolerance * rms[s]; ++s) {
    if (got[s] != want[s]) {
      result.mismatch_step = s;
      result.got = got[s];
      result.margin = margin[s];
      break;
    }
    ++result.compared;
  }
  return result;
}

}  // namespace tide::testing
