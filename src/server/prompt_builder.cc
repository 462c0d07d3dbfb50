#include "server/prompt_builder.h"

#include "common/error.h"
#include "server/api_error.h"

namespace tide::server {

PromptBuilder::PromptBuilder(const tokenizer::Tokenizer& tokenizer, std::optional<ChatTemplate> chat_template)
    : tokenizer_(tokenizer), chat_template_(std::move(chat_template)) {}

BuiltPrompts PromptBuilder::build(const OpenAiRequest& request) const {
  BuiltPrompts out;
  if (request.endpoint == Endpoint::Completions) {
    for (const auto& prompt : request.prompts) {
      if (const auto* text = std::get_if<std::string>(&prompt))
        out.ids.push_back(tokenizer_.encode_prompt(*text));
      else
        out.ids.push_back(std::get<std::vector<int32_t>>(prompt));
      if (out.ids.back().empty()) invalid_param("prompt", "the prompt is empty (no tokens)");
    }
    return out;
  }
  if (!chat_template_)
    throw ApiError(400, "this model has no chat template (tokenizer_config.json has no chat_template); use "
                        "/v1/completions");
  try {
    out.rendered_chat = chat_template_->render(request.messages, true, request.tools, request.template_kwargs);
  } catch (const Error& e) {
    // The template's own raise_exception ("Conversation roles must alternate ...") and runtime
    // errors are about this conversation, so the client gets them.
    throw ApiError(400, std::string("the chat template rejected the messages: ") + e.what(), "messages");
  }
  out.ids.push_back(tokenizer_.encode(out.rendered_chat, false));
  if (out.ids.back().empty()) invalid_param("messages", "the rendered conversation is empty");
  return out;
}

}  // namespace tide::server
