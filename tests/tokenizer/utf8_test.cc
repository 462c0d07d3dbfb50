// Replacement of invalid UTF-8 must match Rust's String::from_utf8_lossy, which the reference
// decoder ends in: one U+FFFD per maximal invalid subpart.
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

namespace tide::tokenizer {
namespace {

std::string lossy(std::string_view bytes) {
  std::string out;
  append_utf8_lossy(bytes, out);
  return out;
}

constexpr const char* kR = "\xEF\xBF\xBD";

TEST(Utf8Lossy, KeepsValidText) {
  EXPECT_EQ(lossy("héllo 深度 😀"), "héllo 深度 😀");
  EXPECT_EQ(lossy(""), "");
}

TEST(Utf8Lossy, ReplacesEachMaximalInvalidSubpartOnce) {
  const std::string r = kR;
  EXPECT_EQ(lossy("\xF0\x9F\x98" "x"), r + "x");         // truncated 4-byte prefix: one
  EXPECT_EQ(lossy("\xF0\x9F\x98"), r);                   // ... also at the end
  EXPECT_EQ(lossy("\xC0\xAF"), r + r);                   // C0 can never start a character
  EXPECT_EQ(lossy("\xE0\x80\xAF"), r + r + r);           // overlong: E0 needs A0..BF next
  EXPECT_EQ(lossy("\xED\xA0\x80"), r + r + r);           // surrogate
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), r + r + r + r);   // above U+10FFFF
  EXPECT_EQ(lossy("\xE4\xB8\xE4\xB8\xAD"), r + "中");    // broken, then a whole character
  EXPECT_EQ(lossy("\x80\xBF"), r + r);                   // stray continuation bytes
  EXPECT_EQ(lossy("\xFF"), r);
}

TEST(Utf8Lossy, HoldingTailKeepsOnlyAnUnfinishedLastCharacter) {
  std::string out;
  EXPECT_EQ(append_utf8_lossy_holding_tail("ab\xE4\xB8", out), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(append_utf8_lossy_holding_tail("\xE4" "a\xF0", out), 2u);
  EXPECT_EQ(out, std::string(kR) + "a");
}

TEST(Utf8Validation, AgreesWithLossyConversion) {
  EXPECT_TRUE(is_valid_utf8("ok 中 😀"));
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8"));
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
}

}  // namespace
}  // namespace tide::tokenizer
