// Malformed tokenizer files and bad arguments: every failure is a tide::Error that names the file
// and the field, and nothing crashes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "common/error.h"
#include "common/json_file.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace tide::tokenizer {
namespace testing {
nlohmann::json tiny_tokenizer_json();  // tiny_tokenizer_json.cc
}  // namespace testing

namespace {

using testing::tiny_tokenizer_json;

// Loads `text` and returns the error message (failing the test when loading succeeds).
std::string load_text_error(std::string_view text) {
  try {
    Tokenizer::from_json(text, "bad/tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "loading succeeded";
  return "";
}

std::string load_error(const nlohmann::json& json) { return load_text_error(json.dump()); }

// Applies `change` to the tiny tokenizer and returns the load error.
std::string error_after(const std::function<void(nlohmann::json&)>& change) {
  nlohmann::json json = tiny_tokenizer_json();
  change(json);
  return load_error(json);
}

void expect_mentions(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in: " << message;
  }
}

TEST(BadTokenizerJson, NotJson) {
  const std::string message = load_text_error(std::string_view("this is not json"));
  expect_mentions(message, {"bad/tokenizer.json", "invalid JSON"});
}

TEST(BadTokenizerJson, TruncatedRealFile) {
  const std::string text = read_text_file(std::filesystem::path(TIDE_FIXTURES_DIR) /
                                          "tokenizers" / "deepseek-v3" / "tokenizer.json");
  for (const size_t length : {size_t{0}, size_t{1}, size_t{5000}, text.size() / 2, text.size() - 2}) {
    expect_mentions(load_text_error(std::string_view(text).substr(0, length)), {"invalid JSON"});
  }
}

TEST(BadTokenizerJson, WrongTopLevelShape) {
  expect_mentions(load_text_error(std::string_view("[1, 2]")), {"expected an object"});
  expect_mentions(error_after([](auto& j) { j.erase("model"); }), {"missing field \"model\""});
}

TEST(BadTokenizerJson, UnsupportedComponents) {
  expect_mentions(error_after([](auto& j) { j["model"]["type"] = "WordPiece"; }), {"model.type", "unsupported model type \"WordPiece\""});
  expect_mentions(error_after([](auto& j) { j["normalizer"] = {{"type", "Lowercase"}}; }), {"normalizer.type", "unsupported normalizer type \"Lowercase\""});
  expect_mentions(error_after([](auto& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }), {"pre_tokenizer.type", "unsupported pre-tokenizer type \"Whitespace\""});
  expect_mentions(error_after([](auto& j) { j["pre_tokenizer"] = nullptr; }), {"no ByteLevel"});
  expect_mentions(error_after([](auto& j) { j["decoder"] = {{"type", "WordPiece"}}; }), {"decoder.type", "unsupported decoder type"});
  expect_mentions(error_after([](auto& j) { j.erase("decoder"); }), {"decoder"});
  expect_mentions(error_after([](auto& j) { j["post_processor"] = {{"type", "BertProcessing"}}; }), {"post_processor.type", "unsupported post-processor type"});
  expect_mentions(error_after([](auto& j) { j["model"]["dropout"] = 0.1; }), {"dropout"});
  expect_mentions(error_after([](auto& j) { j["model"]["byte_fallback"] = true; }), {"byte_fallback"});
  expect_mentions(error_after([](auto& j) {
                    j["pre_tokenizer"] = {{"type", "Split"},
                                          {"pattern", {{"Regex", "a"}}},
                                          {"behavior", "Sideways"}};
                  }), {"unknown split behavior \"Sideways\""});
}

TEST(BadTokenizerJson, WrongTypes) {
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"] = nlohmann::json::array(); }), {"model.vocab", "expected an object"});
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"]["h"] = "104"; }), {"model.vocab.h", "expected a token id, got a string"});
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"]["h"] = 1.5; }), {"model.vocab.h", "floating-point"});
  expect_mentions(error_after([](auto& j) { j["model"]["merges"] = "h e"; }), {"model.merges"});
  expect_mentions(error_after([](auto& j) { j["model"]["merges"][1] = 7; }), {"model.merges[1]", "expected \"left right\""});
  expect_mentions(error_after([](auto& j) { j["model"]["merges"][1] = "abc"; }), {"model.merges[1]", "one space"});
  expect_mentions(error_after([](auto& j) { j["model"]["merges"][0] = {"h", "e", "x"}; }), {"model.merges[0]", "more than two"});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][0]["id"] = "261"; }), {"added_tokens[0].id", "expected an integer, got a string"});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][1]["special"] = "yes"; }), {"added_tokens[1].special", "expected true or false"});
  expect_mentions(error_after([](auto& j) { j["added_tokens"] = {{"content", "x"}}; }), {"added_tokens"});
}

TEST(BadTokenizerJson, IdsOutOfRange) {
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"]["h"] = 1000000000000; }), {"model.vocab.h", "out of range"});
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"]["h"] = -3; }), {"model.vocab.h", "out of range"});
  expect_mentions(error_after([](auto& j) {
                    j["model"]["vocab"]["h"] = 18446744073709551615ull;
                  }), {"out of range"});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][0]["id"] = -1; }), {"added_tokens[0].id", "out of range"});
  expect_mentions(error_after([](auto& j) {
                    j["post_processor"]["processors"][1]["special_tokens"]["<bos>"]["ids"] = {9999};
                  }), {"post_processor", "9999"});
}

TEST(BadTokenizerJson, InconsistentIds) {
  expect_mentions(error_after([](auto& j) { j["model"]["vocab"]["h"] = 105; }), {"id 105 is given to both \"h\" and \"i\""});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][2]["id"] = 261; }), {"id 261 is already used by added token \"<bos>\""});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][2]["content"] = "<bos>"; }), {"\"<bos>\" is already an added token"});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][2]["id"] = 104; }), {"added token \"<tool>\" has id 104", "\"h\""});
  expect_mentions(error_after([](auto& j) { j["added_tokens"][2]["content"] = "hello"; }), {"added token \"hello\" has id 263 but the vocab gives it id 259"});
}

TEST(BadTokenizerJson, MergesNamingUnknownTokens) {
  expect_mentions(error_after([](auto& j) { j["model"]["merges"][0] = {"zz", "e"}; }), {"model.merges[0]", "token \"zz\" is not in the vocab"});
  expect_mentions(error_after([](auto& j) { j["model"]["merges"][0] = "x y"; }), {"model.merges[0]", "token \"xy\" is not in the vocab"});
}

TEST(BadTokenizerJson, InvalidRegexReportsPcre2MessageAndOffset) {
  const std::string message = error_after([](auto& j) {
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Split"},
                             {"pattern", {{"Regex", "(\\p{L}+"}}},
                             {"behavior", "Isolated"},
                             {"invert", false}},
                            {{"type", "ByteLevel"}}}}};
  });
  expect_mentions(message, {"pre_tokenizer.pretokenizers[0].pattern", "invalid regex",
                  "missing closing parenthesis", "offset"});
}

TEST(BadTokenizerJson, DeepNestingIsRejectedWithoutCrashing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_mentions(load_text_error(std::string_view(deep)), {"nested"});
  nlohmann::json json = tiny_tokenizer_json();
  nlohmann::json normalizer = nullptr;
  for (int i = 0; i < 200; ++i) {
    normalizer = {{"type", "Sequence"}, {"normalizers", {normalizer}}};
  }
  json["normalizer"] = normalizer;
  expect_mentions(load_error(json), {"nested"});
}

// Every one-byte deletion of a valid file either loads or fails with tide::Error.
TEST(BadTokenizerJson, EveryOneByteDeletionFailsCleanly) {
  const std::string text = tiny_tokenizer_json().dump();
  for (size_t pos = 0; pos < text.size(); pos += 7) {
    std::string damaged = text;
    damaged.erase(pos, 1);
    try {
      Tokenizer::from_json(damaged, "damaged.json").encode("hello <tool> world");
    } catch (const Error&) {
    }
  }
}

TEST(BadArguments, InvalidUtf8IsEncodedAsReplacementCharacters) {
  const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer_json().dump(), "tiny.json");
  EXPECT_EQ(tokenizer.encode("a\xFF\xE4\xB8z"), tokenizer.encode("a\uFFFD\uFFFDz"));
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xFF\xE4\xB8z")), "a\uFFFD\uFFFDz");
}

TEST(BadArguments, OutOfRangeIds) {
  const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer_json().dump(), "tiny.json");
  const std::vector<int32_t> too_large = {104, 264};
  try {
    tokenizer.decode(too_large);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    expect_mentions(std::string(e.what()), {"token id 264 is out of range", "0..263"});
  }
  const std::vector<int32_t> negative = {-5};
  EXPECT_THROW(tokenizer.decode(negative), Error);
  EXPECT_THROW(tokenizer.decode(negative, /*skip_special_tokens=*/true), Error);
  EXPECT_THROW(tokenizer.token_text(264), Error);
  EXPECT_THROW(tokenizer.token_bytes(-1), Error);
  EXPECT_THROW(tokenizer.is_special(1 << 30), Error);
}

TEST(BadArguments, EmptyText) {
  const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer_json().dump(), "tiny.json");
  EXPECT_TRUE(tokenizer.encode("").empty());
  EXPECT_EQ(tokenizer.decode({}), "");
  IncrementalDetokenizer detokenizer(tokenizer);
  EXPECT_EQ(detokenizer.finish(), "");
}

class BadTokenizerDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tide-tokenizer-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    write("tokenizer.json", tiny_tokenizer_json().dump());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string load_error() {
    try {
      Tokenizer::from_directory(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "loading succeeded";
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(BadTokenizerDirectory, ConfigTokensAsStringsOrAddedTokenObjects) {
  write("tokenizer_config.json",
        R"({"bos_token": "<bos>", "eos_token": {"content": "<eos>"}, "add_bos_token": true})");
  const Tokenizer tokenizer = Tokenizer::from_directory(dir_);
  EXPECT_EQ(tokenizer.bos_id(), 261);
  EXPECT_EQ(tokenizer.eos_id(), 262);
  EXPECT_TRUE(tokenizer.add_bos_token());
}

TEST_F(BadTokenizerDirectory, ConfigErrorsNameTheFileAndField) {
  write("tokenizer_config.json", R"({"bos_token": 5})");
  expect_mentions(load_error(), {"tokenizer_config.json", "bos_token", "expected a string"});
  write("tokenizer_config.json", R"({"eos_token": "<missing>"})");
  expect_mentions(load_error(), {"tokenizer_config.json", "eos_token",
                  "\"<missing>\" is not a token"});
  write("tokenizer_config.json", R"({"add_bos_token": "yes"})");
  expect_mentions(load_error(), {"add_bos_token"});
  write("tokenizer_config.json", "{");
  expect_mentions(load_error(), {"tokenizer_config.json", "invalid JSON"});
}

TEST_F(BadTokenizerDirectory, MissingTokenizerJson) {
  std::filesystem::remove(dir_ / "tokenizer.json");
  expect_mentions(load_error(), {"tokenizer.json", "cannot open"});
}

}  // namespace
}  // namespace tide::tokenizer
