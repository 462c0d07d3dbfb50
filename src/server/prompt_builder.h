#pragma once
// Turns a request's prompts into token ids: completion prompts are tokenized as given (text as
// transformers encodes a prompt, BOS included when the tokenizer config asks for it; token ids
// as they are), chat messages are
// rendered through the model's chat template with the generation prompt and then tokenized
// without adding special tokens again (the template already wrote BOS).
#include <optional>
#include <string>
#include <vector>

#include "server/openai_request.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tide::server {

struct BuiltPrompts {
  std::vector<std::vector<int32_t>> ids;  // one per prompt
  std::string rendered_chat;              // chat only: the template's output
};

class PromptBuilder {
 public:
  // Without a chat template, chat requests are refused with a 400 that says so.
  PromptBuilder(const tokenizer::Tokenizer& tokenizer, std::optional<ChatTemplate> chat_template);

  // Throws ApiError(400) when the template rejects the conversation (its raise_exception) or a
  // prompt is empty.
  BuiltPrompts build(const OpenAiRequest& request) const;

  const tokenizer::Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  const tokenizer::Tokenizer& tokenizer_;
  std::optional<ChatTemplate> chat_template_;
};

}  // namespace tide::server
