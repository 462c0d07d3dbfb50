// The real DeepSeek-V3 tokenizer against ids and text produced by the reference implementation.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"
#include "fixtures.h"

namespace tide::tokenizer {
namespace {

using testing::deepseek_v3_dir;
using testing::deepseek_v3_expected;

const Tokenizer& deepseek_v3() {
  static const Tokenizer tokenizer = Tokenizer::from_directory(deepseek_v3_dir());
  return tokenizer;
}

TEST(DeepSeekV3Tokenizer, EncodesEveryCaseExactly) {
  for (const auto& c : deepseek_v3_expected()["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(deepseek_v3().encode(text), c["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(DeepSeekV3Tokenizer, EncodesWithSpecialTokensExactly) {
  for (const auto& c : deepseek_v3_expected()["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(deepseek_v3().encode(text, /*add_special_tokens=*/true),
              c["ids_with_special"].get<std::vector<int32_t>>())
        << text;
  }
}

TEST(DeepSeekV3Tokenizer, DecodesEveryCaseExactly) {
  for (const auto& c : deepseek_v3_expected()["cases"]) {
    const auto ids = c["ids_with_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(deepseek_v3().decode(ids), c["decoded"].get<std::string>());
  }
}

}  // namespace
}  // namespace tide::tokenizer
