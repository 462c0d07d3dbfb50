// MLA's two forms are algebraically the same attention: expanding the latent cache through
// kv_b_proj, or folding kv_b_proj into the query and the output. Forced into either form (and in
// Auto, which mixes them), a model must give the same logits for prefill, chunked prefill and
// cached decode.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "fixture_support.h"
#include "model/model.h"

namespace tide {
namespace {

using testing::load_expected;
using testing::model_fixture;
using testing::relative_error;

constexpr int kBlockSize = 16;
constexpr double kTolerance = 1e-5;
constexpr int kDecodeSteps = 6;

// One sequence in its own cache; steps append tokens at the next position.
class Sequence {
 public:
  Sequence(const Model& model, int capacity)
      : model_(model),
        cache_(model.config().num_layers, capacity / kBlockSize + 1, kBlockSize, model.config().kv_entry_dim()),
        table_(capacity / kBlockSize + 1) {
    // Blocks in reverse order, so positions do not coincide with cache offsets.
    std::iota(table_.rbegin(), table_.rend(), 0);
  }

  // Logits of every token fed in this step, [tokens, vocab].
  std::vector<float> feed(std::span<const int32_t> tokens) {
    Batch batch{{tokens.begin(), tokens.end()},
                {{.num_tokens = static_cast<int64_t>(tokens.size()), .start_position = length_, .block_table = table_,
                  .all_logits = true}}};
    length_ += static_cast<int64_t>(tokens.size());
    return model_.forward(batch, cache_);
  }

 private:
  const Model& model_;
  PagedKvCache cache_;
  std::vector<int32_t> table_;
  int64_t length_ = 0;
};

int32_t argmax(const float* logits, int vocab) { return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits); }

void expect_rows_close(const std::vector<float>& actual, const std::vector<float>& expected, int vocab,
                       const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t row = 0; row < actual.size() / vocab; ++row)
    EXPECT_LT(relative_error(actual.data() + row * vocab, expected.data() + row * vocab, vocab), kTolerance)
        << what << " row " << row;
}

class MlaModesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const auto dir = model_fixture(GetParam());
    expanded_ = load_model(dir, {.mla_mode = MlaMode::Expanded});
    absorbed_ = load_model(dir, {.mla_mode = MlaMode::Absorbed});
    auto_ = load_model(dir, {.mla_mode = MlaMode::Auto});
    // The longest prompt has more than two cache blocks.
    const auto prompts = load_expected(dir).prompts;
    prompt_ = *std::max_element(prompts.begin(), prompts.end(),
                                [](const auto& a, const auto& b) { return a.size() < b.size(); });
    prompt_.resize(std::min<std::size_t>(prompt_.size(), 3 * kBlockSize + 5));
    vocab_ = expanded_->config().vocab_size;
  }

  // Prefill then greedy decode (the tokens chosen by the expanded form, so every mode decodes the
  // same sequence); the logits of every step, prefill first.
  std::vector<std::vector<float>> run(const Model& model, const std::vector<int32_t>& decode_tokens) {
    Sequence seq(model, static_cast<int>(prompt_.size()) + kDecodeSteps);
    std::vector<std::vector<float>> steps{seq.feed(prompt_)};
    for (int32_t t : decode_tokens) steps.push_back(seq.feed(std::span(&t, 1)));
    return steps;
  }

  std::vector<int32_t> greedy_tokens() {
    Sequence seq(*expanded_, static_cast<int>(prompt_.size()) + kDecodeSteps);
    auto logits = seq.feed(prompt_);
    std::vector<int32_t> tokens{argmax(logits.data() + logits.size() - vocab_, vocab_)};
    while (static_cast<int>(tokens.size()) < kDecodeSteps) {
      logits = seq.feed(std::span(&tokens.back(), 1));
      tokens.push_back(argmax(logits.data(), vocab_));
    }
    return tokens;
  }

  std::unique_ptr<Model> expanded_, absorbed_, auto_;
  std::vector<int32_t> prompt_;
  int vocab_ = 0;
};

TEST_P(MlaModesTest, ExpandedAbsorbedAndAutoAgreeOnPrefillAndDecode) {
  ASSERT_GT(prompt_.size(), 2u * kBlockSize);
  const auto tokens = greedy_tokens();
  const auto expanded = run(*expanded_, tokens);
  const auto absorbed = run(*absorbed_, tokens);
  const auto automatic = run(*auto_, tokens);
  ASSERT_EQ(expanded.size(), static_cast<std::size_t>(kDecodeSteps) + 1);
  EXPECT_EQ(expanded[0].size(), prompt_.size() * vocab_);
  for (std::size_t s = 0; s < expanded.size(); ++s) {
    const std::string step = s == 0 ? "prefill" : "decode step " + std::to_string(s);
    expect_rows_close(absorbed[s], expanded[s], vocab_, "absorbed " + step);
    expect_rows_close(automatic[s], expanded[s], vocab_, "auto " + step);
  }
}

TEST_P(MlaModesTest, ChunkedPrefillMatchesOneFullPrefillInEveryMode) {
  constexpr std::size_t kChunk = 5;
  Sequence whole(*expanded_, static_cast<int>(prompt_.size()));
  const auto full = whole.feed(prompt_);
  const std::vector<std::pair<std::string, const Model*>> modes = {
      {"expanded", expanded_.get()}, {"absorbed", absorbed_.get()}, {"auto", auto_.get()}};
  for (const auto& [mode, model] : modes) {
    Sequence chunked(*model, static_cast<int>(prompt_.size()));
    std::vector<float> last;
    for (std::size_t begin = 0; begin < prompt_.size(); begin += kChunk) {
      const std::size_t end = std::min(prompt_.size(), begin + kChunk);
      const auto logits = chunked.feed(std::span(prompt_).subspan(begin, end - begin));
      const std::vector<float> expected(full.begin() + begin * vocab_, full.begin() + end * vocab_);
      expect_rows_close(logits, expected, vocab_, mode + " chunk at " + std::to_string(begin));
      last.assign(logits.end() - vocab_, logits.end());
    }
    EXPECT_LT(relative_error(last.data(), full.data() + full.size() - vocab_, vocab_), kTolerance) << mode;
  }
}

INSTANTIATE_TEST_SUITE_P(DeepSeekFixtures, MlaModesTest,
                         ::testing::Values("deepseek-v3-tiny", "deepseek-v2-lite-tiny", "deepseek-v3-fp8-tiny"),
                         testing::fixture_test_name);

}  // namespace
}  // namespace tide
