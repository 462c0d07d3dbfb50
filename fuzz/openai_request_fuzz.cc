// Request bodies as a client could send them, through everything the server does before the
// engine: JSON parsing with the depth limit, parsing into the typed request, chat-template
// rendering and tokenization, the mapping to engine requests, and the reasoning splitter over
// the rendered text. The first byte picks the endpoint and how the splitter's input is cut.
// Rejecting input with ApiError is the contract; any other exception, crash or sanitizer
// report is a bug.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "server/api_error.h"
#include "server/json_body.h"
#include "server/openai_request.h"
#include "server/prompt_builder.h"
#include "server/reasoning_parser.h"

namespace {

const tide::server::PromptBuilder& prompts() {
  static const auto dir = std::filesystem::path(__FILE__).parent_path().parent_path() / "tests/fixtures/models/qwen2-tiny";
  static const auto tokenizer = tide::tokenizer::Tokenizer::from_directory(dir);
  static const tide::server::PromptBuilder builder(tokenizer,
                                                   tide::ChatTemplate::from_tokenizer_config(dir / "tokenizer_config.json"));
  return builder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tide::server;
  if (size == 0) return 0;
  const auto endpoint = (data[0] & 1) ? Endpoint::ChatCompletions : Endpoint::Completions;
  const std::size_t piece = 1 + (data[0] >> 1) % 8;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const OpenAiRequest request = parse_openai_request(endpoint, parse_json_body(body));
    const BuiltPrompts built = prompts().build(request);
    make_generation_requests(request, built.ids, "fuzz", {.context_length = 4096, .max_tokens_cap = 0});
    ReasoningParser parser(prompt_starts_reasoning(built.rendered_chat));
    for (std::size_t i = 0; i < built.rendered_chat.size(); i += piece) parser.push(built.rendered_chat.substr(i, piece));
    parser.finish();
  } catch (const ApiError&) {
  }
  return 0;
}
