#pragma once
// Splits the output of an R1-style model into its reasoning and its answer: text before
// `</think>` is reasoning (OpenAI-compatible servers return it as `reasoning_content`), text after
// it is the answer (`content`). Works on streamed deltas, holding back text that may be the start
// of a tag split across deltas, so the tags themselves never reach the client.
//
// DeepSeek-R1's chat template ends the prompt with "<think>\n", so its output starts inside the
// reasoning with no opening tag; R1-Distill models (older templates) print "<think>" themselves.
// Both are handled: an opening tag at the very start of the output is dropped.
#include <string>
#include <string_view>

namespace tide::server {

class ReasoningParser {
 public:
  struct Delta {
    std::string reasoning;
    std::string content;
    bool empty() const { return reasoning.empty() && content.empty(); }
  };

  // `starts_in_reasoning`: false when the prompt already closed the reasoning (a template that
  // ends with "</think>" to switch thinking off), so everything is answer.
  explicit ReasoningParser(bool starts_in_reasoning = true);

  Delta push(std::string_view text);
  // The text still held back, at the end of the output.
  Delta finish();

 private:
  enum class State { Start, Reasoning, Content };

  State state_;
  std::string held_;  // text that may be the beginning of the tag awaited in state_
};

// Whether a rendered chat prompt leaves the model inside its reasoning: false when the prompt
// ends by closing it ("</think>", maybe followed by whitespace), true otherwise.
bool prompt_starts_reasoning(std::string_view rendered_prompt);

}  // namespace tide::server
