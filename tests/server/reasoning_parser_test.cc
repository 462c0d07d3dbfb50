// The R1 reasoning splitter, on whole outputs and on outputs streamed in pieces of every size
// (tags split across deltas), with and without the opening tag.
#include <gtest/gtest.h>

#include "server/reasoning_parser.h"

namespace tide::server {
namespace {

struct Split {
  std::string reasoning, content;
};

Split run(const std::string& output, std::size_t piece, bool starts_in_reasoning = true) {
  ReasoningParser parser(starts_in_reasoning);
  Split out;
  for (std::size_t i = 0; i < output.size(); i += piece) {
    auto d = parser.push(std::string_view(output).substr(i, piece));
    out.reasoning += d.reasoning;
    out.content += d.content;
  }
  auto d = parser.finish();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

void expect_split(const std::string& output, const std::string& reasoning, const std::string& content,
                  bool starts_in_reasoning = true) {
  for (std::size_t piece : {output.size() + 1, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}}) {
    const Split s = run(output, piece, starts_in_reasoning);
    EXPECT_EQ(s.reasoning, reasoning) << "pieces of " << piece << ": " << output;
    EXPECT_EQ(s.content, content) << "pieces of " << piece << ": " << output;
  }
}

TEST(ReasoningParser, WithoutOpeningTag) {  // R1: the prompt opened the reasoning
  expect_split("Let me think.\n</think>\n\nThe answer is 4.", "Let me think.\n", "\n\nThe answer is 4.");
}

TEST(ReasoningParser, WithOpeningTag) {  // R1-Distill: the model opens it itself
  expect_split("<think>\nLet me think.\n</think>\n\nFour.", "\nLet me think.\n", "\n\nFour.");
}

TEST(ReasoningParser, NoClosingTagIsAllReasoning) {  // cut off by max_tokens while thinking
  expect_split("<think>still thinking <", "still thinking <", "");
  expect_split("still thinking </thi", "still thinking </thi", "");
}

TEST(ReasoningParser, NearMissesOfTheTagsAreText) {
  expect_split("<thinking> a </thinker> b </think>c", "<thinking> a </thinker> b ", "c");
  expect_split("<b>bold</b></think><think>x", "<b>bold</b>", "<think>x");
}

TEST(ReasoningParser, OnlyTheFirstCloseTagSplits) {
  expect_split("r</think>c</think>d", "r", "c</think>d");
}

TEST(ReasoningParser, EmptyReasoning) { expect_split("<think></think>answer", "", "answer"); }

TEST(ReasoningParser, PromptAlreadyClosedTheReasoning) {
  expect_split("just the answer </think> here", "", "just the answer </think> here", false);
}

TEST(ReasoningParser, NothingIsEmittedInsideAPartialTag) {
  ReasoningParser parser;
  EXPECT_TRUE(parser.push("<thi").empty());
  auto d = parser.push("nk>abc</th");
  EXPECT_EQ(d.reasoning, "abc");
  EXPECT_EQ(d.content, "");
  d = parser.push("ink>done");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "done");
}

TEST(ReasoningParser, PromptStartsReasoning) {
  EXPECT_TRUE(prompt_starts_reasoning("<｜User｜>hi<｜Assistant｜><think>\n"));
  EXPECT_TRUE(prompt_starts_reasoning("<｜User｜>hi<｜Assistant｜>"));
  EXPECT_FALSE(prompt_starts_reasoning("<｜User｜>hi<｜Assistant｜></think>"));
  EXPECT_FALSE(prompt_starts_reasoning("<｜Assistant｜></think>\n\n"));
}

}  // namespace
}  // namespace tide::server
