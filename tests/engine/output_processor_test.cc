#include "engine/output_processor.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace tide {
namespace {

const tokenizer::Tokenizer& tok() {
  static const auto t = tokenizer::Tokenizer::from_directory(std::string(TIDE_FIXTURES_DIR) + "/models/qwen2-tiny");
  return t;
}

// Streams `text`'s tokens one by one; returns what a client would see and whether it stopped.
std::pair<std::string, bool> stream(const std::string& text, std::vector<std::string> stop, bool include = false) {
  OutputProcessor out(tok(), std::move(stop), include);
  std::string seen;
  for (int32_t id : tok().encode(text, false)) {
    auto d = out.push(id);
    seen += d.text;
    if (d.stopped) return {seen, true};
  }
  return {seen + out.finish(), false};
}

TEST(OutputProcessor, WithoutStopStringsStreamsEverything) {
  EXPECT_EQ(stream("hello world, this is text", {}), std::make_pair(std::string("hello world, this is text"), false));
}

TEST(OutputProcessor, CutsExactlyBeforeTheFirstStopString) {
  EXPECT_EQ(stream("alpha beta gamma delta", {"gamma", "delta"}), std::make_pair(std::string("alpha beta "), true));
  EXPECT_EQ(stream("alpha beta gamma delta", {" ga"}), std::make_pair(std::string("alpha beta"), true));
}

TEST(OutputProcessor, IncludesTheStopStringWhenAsked) {
  EXPECT_EQ(stream("alpha beta gamma", {"beta"}, true), std::make_pair(std::string("alpha beta"), true));
}

TEST(OutputProcessor, NeverEmitsTextThatIsLaterCut) {
  OutputProcessor out(tok(), {"xyz!"}, false);
  std::string seen;
  for (int32_t id : tok().encode("abc xy", false)) seen += out.push(id).text;
  EXPECT_EQ(seen.find("xy"), std::string::npos);  // held back: may start "xyz!"
  EXPECT_EQ(seen + out.finish(), "abc xy");       // released at the end
}

}  // namespace
}  // namespace tide
