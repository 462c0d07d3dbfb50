// tide tokenize: the ids a tokenizer gives a text (no special tokens added), or those of a
// conversation rendered through the chat template with the generation prompt.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/error.h"
#include "common/json_file.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tide::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string chat_json;
};

void run_tokenize(const TokenizeArgs& args) {
  auto tok = tokenizer::Tokenizer::from_directory(args.tokenizer);
  std::string text = args.text;
  if (!args.chat_json.empty()) {
    auto messages = read_json_file(args.chat_json);
    if (!messages.is_array()) fail("{}: expected a JSON list of messages", args.chat_json);
    auto chat = ChatTemplate::from_tokenizer_config(std::filesystem::path(args.tokenizer) / "tokenizer_config.json");
    text = chat.render(messages, true);
  }
  std::cout << nlohmann::json(tok.encode(text, false)).dump() << "\n";
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text (or a chat) as a JSON array");
  cmd->add_option("--tokenizer", args->tokenizer, "Directory with tokenizer.json (and tokenizer_config.json)")->required();
  auto* text = cmd->add_option("text", args->text, "Text to tokenize");
  auto* chat = cmd->add_option("--chat-json", args->chat_json, "JSON file with a list of messages to render through the chat template");
  text->excludes(chat);
  cmd->callback([args, text, chat] {
    if (text->count() == 0 && chat->count() == 0) throw CLI::RequiredError("TEXT or --chat-json");
    run_tokenize(*args);
  });
}

}  // namespace tide::cli
