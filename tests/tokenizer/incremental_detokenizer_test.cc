// Streaming detokenization: for any id sequence the pushed pieces concatenate to decode(), and no
// piece ever ends inside a character.
#include "tokenizer/incremental_detokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/json_file.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

const Tokenizer& deepseek_v3() {
  static const Tokenizer tokenizer = Tokenizer::from_directory(
      std::filesystem::path(TIDE_FIXTURES_DIR) / "tokenizers" / "deepseek-v3");
  return tokenizer;
}

struct Streamed {
  std::vector<std::string> pieces;
  std::string text;
};

Streamed stream(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
  IncrementalDetokenizer detokenizer(tokenizer, skip_special);
  Streamed result;
  for (const int32_t id : ids) result.pieces.push_back(detokenizer.push(id));
  result.pieces.push_back(detokenizer.finish());
  for (const std::string& piece : result.pieces) result.text += piece;
  return result;
}

void expect_streaming_matches_decode(const std::vector<int32_t>& ids, bool skip_special = false) {
  const Streamed streamed = stream(deepseek_v3(), ids, skip_special);
  EXPECT_EQ(streamed.text, deepseek_v3().decode(ids, skip_special));
  for (const std::string& piece : streamed.pieces) EXPECT_TRUE(is_valid_utf8(piece)) << piece;
}

// The id of the single-byte token for `byte`.
int32_t byte_token(unsigned char byte) {
  return deepseek_v3().token_id(ByteLevelAlphabet::instance().char_for(byte)).value();
}

std::vector<int32_t> byte_tokens(std::string_view bytes) {
  std::vector<int32_t> ids;
  for (const char c : bytes) ids.push_back(byte_token(static_cast<unsigned char>(c)));
  return ids;
}

TEST(IncrementalDetokenizer, MatchesDecodeOnEveryFixtureCase) {
  const nlohmann::json expected = read_json_file(std::filesystem::path(TIDE_FIXTURES_DIR) /
                                                 "tokenizers" / "deepseek-v3" / "expected.json");
  for (const auto& c : expected["cases"]) {
    SCOPED_TRACE(c["text"].get<std::string>());
    expect_streaming_matches_decode(c["ids"].get<std::vector<int32_t>>());
    expect_streaming_matches_decode(c["ids"].get<std::vector<int32_t>>(), true);
  }
}

// In the emoji case, single emoji are split over several byte tokens: the detokenizer must hold
// their first bytes back instead of emitting them.
TEST(IncrementalDetokenizer, HoldsBackCharactersSplitAcrossTokens) {
  const std::vector<int32_t> ids = byte_tokens("\xF0\x9F\x98\x80!");  // 😀!
  IncrementalDetokenizer detokenizer(deepseek_v3());
  EXPECT_EQ(detokenizer.push(ids[0]), "");
  EXPECT_EQ(detokenizer.push(ids[1]), "");
  EXPECT_EQ(detokenizer.push(ids[2]), "");
  EXPECT_EQ(detokenizer.push(ids[3]), "😀");
  EXPECT_EQ(detokenizer.push(ids[4]), "!");
  EXPECT_EQ(detokenizer.finish(), "");
}

TEST(IncrementalDetokenizer, ChineseAndEmojiTextStreamedByteByByte) {
  const std::string text = "深度求索😀👩‍👩‍👧‍👦🇨🇳❤️ok";
  expect_streaming_matches_decode(byte_tokens(text));
  EXPECT_EQ(stream(deepseek_v3(), byte_tokens(text), false).text, text);
}

TEST(IncrementalDetokenizer, EmitsReplacementAsSoonAsASequenceIsInvalid) {
  IncrementalDetokenizer detokenizer(deepseek_v3());
  EXPECT_EQ(detokenizer.push(byte_token(0xE4)), "");
  EXPECT_EQ(detokenizer.push(byte_token('a')), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(detokenizer.push(byte_token(0x80)), "\xEF\xBF\xBD");
  EXPECT_EQ(detokenizer.finish(), "");
}

TEST(IncrementalDetokenizer, FinishReplacesAnUnfinishedCharacter) {
  IncrementalDetokenizer detokenizer(deepseek_v3());
  EXPECT_EQ(detokenizer.push(byte_token(0xF0)), "");
  EXPECT_EQ(detokenizer.push(byte_token(0x9F)), "");
  EXPECT_EQ(detokenizer.finish(), "\xEF\xBF\xBD");
  // finish() starts a fresh stream.
  EXPECT_EQ(detokenizer.push(byte_token('x')), "x");
}

TEST(IncrementalDetokenizer, InvalidAndTruncatedSequencesMatchDecode) {
  const std::vector<std::string> byte_strings = {
      "\xE4\xB8", "\xE4\xB8\xAD\xE4", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
      "\xE0\x80\xAF", "a\xF0\x9F\x98", "\xF0\x9F\x98\xF0\x9F\x98\x80", "\xFF\xFE", "\x80\x80",
  };
  for (const std::string& bytes : byte_strings) {
    SCOPED_TRACE(bytes);
    expect_streaming_matches_decode(byte_tokens(bytes));
  }
}

TEST(IncrementalDetokenizer, SkippedSpecialTokenBetweenBytesOfOneCharacter) {
  std::vector<int32_t> ids = byte_tokens("\xE4\xB8\xAD");  // 中
  ids.insert(ids.begin() + 1, 0);                         // BOS in the middle
  expect_streaming_matches_decode(ids, /*skip_special=*/true);
  expect_streaming_matches_decode(ids, /*skip_special=*/false);
  EXPECT_EQ(stream(deepseek_v3(), ids, true).text, "中");
}

TEST(IncrementalDetokenizer, EveryPrefixOfMixedIdsMatchesDecode) {
  std::vector<int32_t> ids = deepseek_v3().encode("价格是¥1234.56，<｜User｜>😀 ok");
  const std::vector<int32_t> bytes = byte_tokens("\xF0\x9F\x87\xA8\xE4");
  ids.insert(ids.end(), bytes.begin(), bytes.end());
  for (size_t length = 0; length <= ids.size(); ++length) {
    expect_streaming_matches_decode(std::vector<int32_t>(ids.begin(), ids.begin() + length));
  }
}

TEST(IncrementalDetokenizer, RejectsNegativeIdsAndSkipsPaddedVocabularyRows) {
  IncrementalDetokenizer detokenizer(deepseek_v3());
  EXPECT_THROW(detokenizer.push(-1), Error);
  // DeepSeek-V3's output layer has 129,280 rows for 128,815 tokens: a generated id past the
  // tokenizer stands for nothing and must not stop the stream.
  const std::vector<int32_t> hello = deepseek_v3().encode("Hello");
  std::string text = detokenizer.push(hello[0]);
  text += detokenizer.push(deepseek_v3().vocab_size());
  text += detokenizer.push(129279);
  for (std::size_t i = 1; i < hello.size(); ++i) text += detokenizer.push(hello[i]);
  text += detokenizer.finish();
  EXPECT_EQ(text, "Hello");
}

}  // namespace
}  // namespace tide::tokenizer
