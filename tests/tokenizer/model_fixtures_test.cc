// The small tokenizers shipped with the tiny model fixtures: every greedy continuation decodes to
// the reference text (special tokens kept, U+FFFD where a token splits a character), both at once
// and streamed through the incremental detokenizer.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/json_file.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

std::vector<std::filesystem::path> model_dirs() {
  std::vector<std::filesystem::path> dirs;
  const auto root = std::filesystem::path(TIDE_FIXTURES_DIR) / "models";
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (std::filesystem::exists(entry.path() / "tokenizer.json")) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(ModelFixtureTokenizers, AllFixturesAreFound) { EXPECT_GE(model_dirs().size(), 5u); }

TEST(ModelFixtureTokenizers, GreedyIdsDecodeToReferenceText) {
  for (const auto& dir : model_dirs()) {
    SCOPED_TRACE(dir.filename().string());
    const Tokenizer tokenizer = Tokenizer::from_directory(dir);
    const nlohmann::json expected = read_json_file(dir / "expected.json");
    const auto& greedy = expected["greedy"];
    const auto& texts = expected["greedy_text"];
    ASSERT_EQ(greedy.size(), texts.size());
    ASSERT_FALSE(greedy.empty());
    for (size_t i = 0; i < greedy.size(); ++i) {
      const auto ids = greedy[i].get<std::vector<int32_t>>();
      EXPECT_EQ(tokenizer.decode(ids), texts[i].get<std::string>()) << "sequence " << i;
    }
  }
}

TEST(ModelFixtureTokenizers, StreamingReproducesReferenceTextInValidPieces) {
  for (const auto& dir : model_dirs()) {
    SCOPED_TRACE(dir.filename().string());
    const Tokenizer tokenizer = Tokenizer::from_directory(dir);
    const nlohmann::json expected = read_json_file(dir / "expected.json");
    for (size_t i = 0; i < expected["greedy"].size(); ++i) {
      IncrementalDetokenizer stream(tokenizer);
      std::string text;
      for (const int32_t id : expected["greedy"][i].get<std::vector<int32_t>>()) {
        const std::string piece = stream.push(id);
        EXPECT_TRUE(is_valid_utf8(piece)) << "sequence " << i << ", after id " << id;
        text += piece;
      }
      const std::string rest = stream.finish();
      EXPECT_TRUE(is_valid_utf8(rest));
      text += rest;
      EXPECT_EQ(text, expected["greedy_text"][i].get<std::string>()) << "sequence " << i;
    }
  }
}

TEST(ModelFixtureTokenizers, SpecialTokensComeFromTokenizerConfig) {
  for (const auto& dir : model_dirs()) {
    SCOPED_TRACE(dir.filename().string());
    const Tokenizer tokenizer = Tokenizer::from_directory(dir);
    EXPECT_EQ(tokenizer.vocab_size(), 512);
    EXPECT_EQ(tokenizer.bos_id(), 0);
    EXPECT_EQ(tokenizer.eos_id(), 1);
    EXPECT_EQ(tokenizer.encode("<｜User｜>"), std::vector<int32_t>{3});
  }
}

}  // namespace
}  // namespace tide::tokenizer
