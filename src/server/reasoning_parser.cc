#include "server/reasoning_parser.h"

namespace tide::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Length of the longest suffix of `text` that is a proper prefix of `tag`.
std::size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  for (std::size_t n = std::min(text.size(), tag.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace

ReasoningParser::ReasoningParser(bool starts_in_reasoning)
    : state_(starts_in_reasoning ? State::Start : State::Content) {}

ReasoningParser::Delta ReasoningParser::push(std::string_view text) {
  Delta out;
  if (state_ == State::Content) {
    out.content.append(text);
    return out;
  }
  held_.append(text);
  if (state_ == State::Start) {
    // Wait until the output either begins with "<think>" or cannot.
    const std::size_t n = std::min(held_.size(), kOpen.size());
    if (std::string_view(held_).substr(0, n) != kOpen.substr(0, n)) {
      state_ = State::Reasoning;
    } else if (held_.size() >= kOpen.size()) {
      held_.erase(0, kOpen.size());
      state_ = State::Reasoning;
    } else {
      return out;
    }
  }
  // State::Reasoning
  const std::size_t close = held_.find(kClose);
  if (close != std::string::npos) {
    out.reasoning = held_.substr(0, close);
    out.content = held_.substr(close + kClose.size());
    held_.clear();
    state_ = State::Content;
    return out;
  }
  const std::size_t keep = partial_tag_suffix(held_, kClose);
  out.reasoning = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

ReasoningParser::Delta ReasoningParser::finish() {
  Delta out;
  out.reasoning = std::move(held_);  // an unfinished tag was reasoning text after all
  held_.clear();
  return out;
}

bool prompt_starts_reasoning(std::string_view prompt) {
  while (!prompt.empty() && (prompt.back() == '\n' || prompt.back() == ' ' || prompt.back() == '\r'))
    prompt.remove_suffix(1);
  return !prompt.ends_with(kClose);
}

}  // namespace tide::server
