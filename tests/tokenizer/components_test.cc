// Behaviour of the individual pipeline stages on a small handmade tokenizer: merge order, merge
// formats, post-processor templates, added-token options, pre-tokenizer split behaviours and the
// Oniguruma-compatible regex layer.
#include <gtest/gtest.h>

#include "common/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace tide::tokenizer {
namespace testing {
nlohmann::json tiny_tokenizer_json();  // tiny_tokenizer_json.cc
}  // namespace testing

namespace {

using Ids = std::vector<int32_t>;

Tokenizer load(const nlohmann::json& json) { return Tokenizer::from_json(json.dump(), "tiny.json"); }

Tokenizer tiny() { return load(testing::tiny_tokenizer_json()); }

TEST(BpeModel, MergesByRankThenLeftmost) {
  const Tokenizer tokenizer = tiny();
  EXPECT_EQ(tokenizer.encode("hello"), (Ids{259}));
  EXPECT_EQ(tokenizer.encode("hello world"), (Ids{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(tokenizer.encode("lll"), (Ids{257, 'l'}));  // the leftmost of two equal-rank pairs
  EXPECT_EQ(tokenizer.encode("hel"), (Ids{256, 'l'}));
}

TEST(BpeModel, LegacyStringMergesEqualPairMerges) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  for (auto& merge : json["model"]["merges"]) {
    merge = merge[0].get<std::string>() + " " + merge[1].get<std::string>();
  }
  const Tokenizer legacy = load(json);
  for (const char* text : {"hello world", "lll", "well, hello\nhe"}) {
    EXPECT_EQ(legacy.encode(text), tiny().encode(text)) << text;
  }
}

TEST(BpeModel, IgnoreMergesTakesWholeVocabWords) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["model"]["vocab"]["hel"] = 264;
  EXPECT_EQ(load(json).encode("hel"), (Ids{256, 'l'}));
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(json).encode("hel"), (Ids{264}));
  EXPECT_EQ(load(json).encode("hello"), (Ids{259}));
}

TEST(BpeModel, UnknownBytesUseTheUnknownTokenWhenThereIsOne) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["model"]["vocab"].erase("Ã");  // byte 0xC3, the lead byte of "é"
  json["model"]["vocab"]["<unk>"] = 264;
  json["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(load(json).encode("é"), (Ids{264, 0xA9}));
}

TEST(PostProcessor, TemplateAddsBosOnlyWithSpecialTokens) {
  const Tokenizer tokenizer = tiny();
  EXPECT_EQ(tokenizer.encode("hello", true), (Ids{261, 259}));
  EXPECT_EQ(tokenizer.encode("hello", false), (Ids{259}));
  EXPECT_EQ(tokenizer.encode("", true), (Ids{261}));
}

TEST(PostProcessor, TemplateWithTokensAfterTheSequence) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  auto& template_processing = json["post_processor"]["processors"][1];
  template_processing["single"].push_back({{"SpecialToken", {{"id", "<eos>"}, {"type_id", 0}}}});
  template_processing["special_tokens"]["<eos>"] = {
      {"id", "<eos>"}, {"ids", {262}}, {"tokens", {"<eos>"}}};
  EXPECT_EQ(load(json).encode("hello", true), (Ids{261, 259, 262}));
}

TEST(AddedTokens, StripOptionsSwallowNeighbouringSpaces) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  EXPECT_EQ(load(json).encode("a <tool> b"), (Ids{'a', ' ', 263, ' ', 'b'}));
  json["added_tokens"][2]["lstrip"] = true;
  EXPECT_EQ(load(json).encode("a <tool> b"), (Ids{'a', 263, ' ', 'b'}));
  json["added_tokens"][2]["rstrip"] = true;
  EXPECT_EQ(load(json).encode("a <tool> b"), (Ids{'a', 263, 'b'}));
}

TEST(AddedTokens, SingleWordTokensDoNotMatchInsideWords) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["added_tokens"][2]["single_word"] = true;
  const Tokenizer tokenizer = load(json);
  EXPECT_EQ(tokenizer.encode("x <tool> y"), (Ids{'x', ' ', 263, ' ', 'y'}));
  const Ids inside = tokenizer.encode("x<tool>y");
  EXPECT_EQ(std::count(inside.begin(), inside.end(), 263), 0);
  EXPECT_EQ(tokenizer.decode(inside), "x<tool>y");
}

TEST(AddedTokens, LongestMatchWins) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["added_tokens"].push_back({{"id", 264}, {"content", "<tool>x"}, {"special", false}});
  EXPECT_EQ(load(json).encode("<tool>x<tool>"), (Ids{264, 263}));
}

TEST(Decode, SkipsOnlySpecialTokensAndKeepsAddedOnes) {
  const Tokenizer tokenizer = tiny();
  const Ids ids = {261, 259, 263, 262};
  EXPECT_EQ(tokenizer.decode(ids), "<bos>hello<tool><eos>");
  EXPECT_EQ(tokenizer.decode(ids, true), "hello<tool>");
}

TEST(Normalizer, NfcAcceptsTextThatIsAlreadyNormalized) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["normalizer"] = {{"type", "NFC"}};
  const Tokenizer nfc = load(json);
  for (const char* text : {"hello café", "한국어 텍스트", "हिन्दी", "深度求索 😀", "שָׁלוֹם"}) {
    EXPECT_EQ(nfc.encode(text), tiny().encode(text)) << text;
  }
}

TEST(Normalizer, NfcReportsTextThatWouldNeedComposing) {
  nlohmann::json json = testing::tiny_tokenizer_json();
  json["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
  const Tokenizer nfc = load(json);
  for (const char* text : {"cafe\u0301", "\u1100\u1161", "\u212B", "a\u0302\u0301x\u0323\u0301"}) {
    try {
      nfc.encode(text);
      ADD_FAILURE() << "encoded " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not in Unicode NFC"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("tiny.json: normalizer"), std::string::npos);
    }
  }
}

std::vector<std::string> split_words(const PreTokenizer& pre_tokenizer, std::string_view text) {
  std::vector<std::string> words;
  pre_tokenizer.split(text, [&](std::string_view word) { words.emplace_back(word); });
  return words;
}

std::vector<std::string> pre_tokenize(const nlohmann::json& steps, std::string_view text) {
  nlohmann::json sequence = {{"type", "Sequence"}, {"pretokenizers", steps}};
  sequence["pretokenizers"].push_back(
      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
  return split_words(PreTokenizer::from_json(JsonField(sequence, "test"), "test"), text);
}

nlohmann::json split_on_dash(const char* behavior, bool invert = false) {
  return {{{"type", "Split"},
           {"pattern", {{"String", "-"}}},
           {"behavior", behavior},
           {"invert", invert}}};
}

using Words = std::vector<std::string>;

// The examples of the reference documentation for SplitDelimiterBehavior.
TEST(PreTokenizer, SplitBehaviours) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split_on_dash("Removed"), text), (Words{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_on_dash("Isolated"), text),
            (Words{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_on_dash("MergedWithPrevious"), text),
            (Words{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_on_dash("MergedWithNext"), text),
            (Words{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split_on_dash("Contiguous"), text),
            (Words{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_on_dash("Removed", /*invert=*/true), text),
            (Words{"-", "-", "-"}));
}

TEST(PreTokenizer, ByteLevelPrefixSpaceAndGpt2Pattern) {
  const nlohmann::json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  const PreTokenizer pre_tokenizer = PreTokenizer::from_json(JsonField(byte_level, "test"), "test");
  EXPECT_EQ(split_words(pre_tokenizer, "Hello world's 123  x"),
            (Words{" Hello", " world", "'s", " 123", " ", " x"}));
}

TEST(PreTokenizer, Digits) {
  const nlohmann::json individual = {{{"type", "Digits"}, {"individual_digits", true}}};
  const nlohmann::json grouped = {{{"type", "Digits"}, {"individual_digits", false}}};
  EXPECT_EQ(pre_tokenize(individual, "a123b"), (Words{"a", "1", "2", "3", "b"}));
  EXPECT_EQ(pre_tokenize(grouped, "a123b"), (Words{"a", "123", "b"}));
}

TEST(PreTokenizer, StepsAfterByteLevelAreRejected) {
  nlohmann::json steps = {{{"type", "ByteLevel"}}, {{"type", "Digits"}}};
  const nlohmann::json sequence = {{"type", "Sequence"}, {"pretokenizers", steps}};
  try {
    PreTokenizer::from_json(JsonField(sequence, "test"), "test");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("after ByteLevel"), std::string::npos) << e.what();
  }
}

TEST(Regex, WhitespaceIncludesNextLineAsInOniguruma) {
  const Regex spaces(R"(\s+)", "test");
  const std::vector<Span> matches = spaces.find_all("a\u0085b");
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].begin, 1u);
  EXPECT_EQ(matches[0].end, 3u);
  EXPECT_EQ(translate_oniguruma_pattern(R"([^\s\p{L}]|\\s|[]\s])"),
            R"([^\s\x{85}\p{L}]|\\s|[]\s\x{85}])");
}

TEST(Regex, EmptyMatchesFollowOnigurumaIteration) {
  const Regex optional_x("x*", "test");
  const auto spans = [&](std::string_view text) {
    std::vector<std::pair<size_t, size_t>> result;
    for (const Span& span : optional_x.find_all(text)) result.emplace_back(span.begin, span.end);
    return result;
  };
  using Spans = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(spans("ab"), (Spans{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(spans("xax"), (Spans{{0, 1}, {2, 3}}));
  EXPECT_EQ(spans("中"), (Spans{{0, 0}, {3, 3}}));
}

}  // namespace
}  // namespace tide::tokenizer
