// tide generate: one prompt through the model, streamed to stdout as it is produced.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "engine/generate.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tide::cli {
namespace {

struct GenerateArgs {
  std::string model = "demo";
  std::string device = "auto";
  std::string quantization = "none";
  std::string fp8_weights = "fp8";
  std::string prompt;
  std::string ids;
  int max_tokens = 64;
  float temperature = 1.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  std::optional<uint64_t> seed;
  bool chat = false;
  std::string output = "text";
  bool ignore_eos = false;
};

void run_generate(const GenerateArgs& args) {
  const auto dir = resolve_model(args.model);
  if (is_demo(args.model)) spdlog::warn("demo model: random weights, the generated text is meaningless");

  auto model = load_model_on(dir, args.device, args.quantization, "auto", args.fp8_weights);

  std::optional<tokenizer::Tokenizer> tok;
  if (args.output == "text" || !args.prompt.empty()) tok = tokenizer::Tokenizer::from_directory(dir);

  std::vector<int32_t> prompt;
  if (!args.ids.empty()) {
    prompt = parse_ids(args.ids);
  } else if (args.chat) {
    auto chat = ChatTemplate::from_tokenizer_config(dir / "tokenizer_config.json");
    nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", args.prompt}}});
    prompt = tok->encode(chat.render(messages, true), false);
  } else {
    prompt = tok->encode_prompt(args.prompt);
  }

  GenerateOptions options;
  options.max_tokens = args.max_tokens;
  options.sampling = {.temperature = args.temperature, .top_k = args.top_k, .top_p = args.top_p,
                      .min_p = args.min_p, .seed = args.seed};
  options.stop_at_eos = !args.ignore_eos;

  std::optional<tokenizer::IncrementalDetokenizer> detok;
  if (args.output == "text") detok.emplace(*tok, true);
  const auto started = std::chrono::steady_clock::now();
  auto tokens = generate(*model, prompt, options, [&](int32_t token) {
    if (detok) std::cout << detok->push(token) << std::flush;
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (detok) {
    std::cout << detok->finish() << "\n";
  } else {
    std::cout << nlohmann::json(tokens).dump() << "\n";
  }
  spdlog::info("{} prompt tokens, {} generated in {:.2f} s ({:.1f} tokens/s)", prompt.size(), tokens.size(), seconds,
               tokens.size() / std::max(seconds, 1e-9));
}

}  // namespace

void register_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Generate text for one prompt (streams to stdout)");
  cmd->add_option("--model", args->model, "Model directory, or 'demo' for the built-in random-weight model")
      ->capture_default_str();
  add_device_option(*cmd, args->device);
  add_quantization_option(*cmd, args->quantization);
  add_fp8_weights_option(*cmd, args->fp8_weights);
  auto* prompt = cmd->add_option("--prompt", args->prompt, "Prompt text (BOS is added as the tokenizer config says)");
  auto* ids = cmd->add_option("--ids", args->ids, "Prompt as token ids, e.g. 1,2,3");
  prompt->excludes(ids);
  cmd->add_option("--max-tokens", args->max_tokens, "Maximum tokens to generate")->check(CLI::Range(0, 1 << 20))->capture_default_str();
  cmd->add_option("--temperature", args->temperature, "Sampling temperature; 0 is greedy")->check(CLI::Range(0.0, 100.0))->capture_default_str();
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling mass in (0, 1]")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "Sample among the k most likely tokens (0: no limit)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-p", args->min_p, "Drop tokens below min_p × the top probability")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", args->seed, "Seed for reproducible sampling");
  cmd->add_flag("--chat", args->chat, "Wrap the prompt as one user message through the model's chat template");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating after an end-of-sequence token");
  cmd->add_option("--output", args->output, "text: stream the text; ids: print the generated ids as a JSON array")
      ->check(CLI::IsMember({"text", "ids"}))
      ->capture_default_str();
  cmd->callback([args, prompt, ids] {
    if (prompt->count() == 0 && ids->count() == 0) throw CLI::RequiredError("--prompt or --ids");
    if (args->chat && ids->count() > 0) throw CLI::ValidationError("--chat", "needs --prompt, not --ids");
    run_generate(*args);
  });
}

}  // namespace tide::cli
