// The real DeepSeek-V3 tokenizer against ids and text produced by the reference implementation
// (expected.json: encode without and with special tokens, and decode).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/json_file.h"
#include "tokenizer/tokenizer.h"

namespace tide::tokenizer {
namespace {

const std::filesystem::path kDir = std::filesystem::path(TIDE_FIXTURES_DIR) / "tokenizers" / "deepseek-v3";

const nlohmann::json& cases() {
  static const nlohmann::json expected = read_json_file(kDir / "expected.json");
  return expected["cases"];
}

const Tokenizer& deepseek_v3() {
  static const Tokenizer tokenizer = Tokenizer::from_directory(kDir);
  return tokenizer;
}

TEST(DeepSeekV3Tokenizer, EncodesEveryCaseExactly) {
  ASSERT_GE(cases().size(), 30u);
  for (const auto& c : cases()) {
    const std::string text = c["text"];
    EXPECT_EQ(deepseek_v3().encode(text), c["ids"].get<std::vector<int32_t>>()) << text;
  }
}

// The DeepSeek-V3 post-processor is ByteLevel, which adds no ids: the reference output with
// special tokens equals the output without them, BOS included or not.
TEST(DeepSeekV3Tokenizer, EncodesWithSpecialTokensExactly) {
  for (const auto& c : cases()) {
    const std::string text = c["text"];
    EXPECT_EQ(deepseek_v3().encode(text, /*add_special_tokens=*/true),
              c["ids_with_special"].get<std::vector<int32_t>>())
        << text;
  }
}

// "decoded" is the decode of ids_with_special, and it reproduces the input text exactly.
TEST(DeepSeekV3Tokenizer, DecodesEveryCaseExactly) {
  for (const auto& c : cases()) {
    const auto ids = c["ids_with_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(deepseek_v3().decode(ids), c["decoded"].get<std::string>());
    EXPECT_EQ(c["decoded"], c["text"]);
  }
}

TEST(DeepSeekV3Tokenizer, FromFileMatchesFromDirectory) {
  const Tokenizer from_file = Tokenizer::from_file(kDir / "tokenizer.json");
  for (const auto& c : cases()) {
    const std::string text = c["text"];
    EXPECT_EQ(from_file.encode(text, true), deepseek_v3().encode(text, true));
  }
  EXPECT_FALSE(from_file.bos_id());
  EXPECT_FALSE(from_file.eos_id());
  EXPECT_FALSE(from_file.add_bos_token());
}

TEST(DeepSeekV3Tokenizer, ReadsSpecialTokensFromTokenizerConfig) {
  EXPECT_EQ(deepseek_v3().bos_id(), 0);
  EXPECT_EQ(deepseek_v3().eos_id(), 1);
  EXPECT_TRUE(deepseek_v3().add_bos_token());
  EXPECT_EQ(deepseek_v3().token_text(0), "<｜begin▁of▁sentence｜>");
}

TEST(DeepSeekV3Tokenizer, CompletionPromptsGetBosOnceAsTransformersDoes) {
  for (const auto& c : cases()) {
    auto ids = c["ids"].get<std::vector<int32_t>>();
    ids.insert(ids.begin(), 0);
    EXPECT_EQ(deepseek_v3().encode_prompt(c["text"].get<std::string>()), ids) << c["text"];
  }
  // A prompt that already starts with BOS does not get a second one.
  EXPECT_EQ(deepseek_v3().encode_prompt("<｜begin▁of▁sentence｜>Hi"), deepseek_v3().encode("<｜begin▁of▁sentence｜>Hi"));
}

TEST(DeepSeekV3Tokenizer, VocabularyLookups) {
  const Tokenizer& tokenizer = deepseek_v3();
  EXPECT_EQ(tokenizer.vocab_size(), 128815);
  EXPECT_EQ(tokenizer.token_id("<｜User｜>"), 128803);
  EXPECT_EQ(tokenizer.token_id("Hello"), 19923);
  EXPECT_EQ(tokenizer.token_id("no such token"), std::nullopt);
  EXPECT_EQ(tokenizer.token_text(223), "Ġ");
  EXPECT_EQ(tokenizer.token_bytes(223), " ");
  EXPECT_EQ(tokenizer.token_bytes(128803), "<｜User｜>");
  EXPECT_TRUE(tokenizer.is_special(0));
  EXPECT_FALSE(tokenizer.is_special(128803));  // an added token, but not a special one
  EXPECT_FALSE(tokenizer.is_special(19923));
}

TEST(DeepSeekV3Tokenizer, AddedTokensAreSingleIds) {
  const Tokenizer& tokenizer = deepseek_v3();
  std::vector<int32_t> expected = {0, 128803};
  for (const int32_t id : tokenizer.encode("Hi")) expected.push_back(id);
  expected.push_back(128804);
  EXPECT_EQ(tokenizer.encode("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>"), expected);
  // An unfinished added token is ordinary text.
  const std::vector<int32_t> partial = tokenizer.encode("<｜User");
  EXPECT_GT(partial.size(), 1u);
  EXPECT_EQ(tokenizer.decode(partial), "<｜User");
}

TEST(DeepSeekV3Tokenizer, SkipSpecialTokensDropsOnlySpecialOnes) {
  const Tokenizer& tokenizer = deepseek_v3();
  const std::vector<int32_t> ids = tokenizer.encode("<｜begin▁of▁sentence｜><｜User｜>Hi");
  EXPECT_EQ(tokenizer.decode(ids, /*skip_special_tokens=*/true), "<｜User｜>Hi");
  EXPECT_EQ(tokenizer.decode(ids), "<｜begin▁of▁sentence｜><｜User｜>Hi");
}

TEST(DeepSeekV3Tokenizer, EmptyTextHasNoTokens) {
  EXPECT_TRUE(deepseek_v3().encode("").empty());
  EXPECT_TRUE(deepseek_v3().encode("", true).empty());
  EXPECT_EQ(deepseek_v3().decode({}), "");
}

TEST(DeepSeekV3Tokenizer, RoundTripsLongMixedText) {
  std::string text;
  for (const auto& c : cases()) text += c["text"].get<std::string>() + "\n";
  for (int i = 0; i < 5; ++i) text += text;
  EXPECT_EQ(deepseek_v3().decode(deepseek_v3().encode(text)), text);
}

}  // namespace
}  // namespace tide::tokenizer
