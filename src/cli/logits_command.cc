// tide logits: the logits at every position of one full forward pass, as a safetensors file —
// the form other tools compare against reference implementations.
#include <spdlog/spdlog.h>

#include <numeric>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "model/checkpoint/safetensors.h"
#include "common/error.h"
#include "model/model.h"

namespace tide::cli {
namespace {

struct LogitsArgs {
  std::string model = "demo";
  std::string device = "auto";
  std::string quantization = "none";
  std::string fp8_weights = "fp8";
  std::string ids;
  std::string out;
};

void run_logits(const LogitsArgs& args) {
  auto model = load_model_on(resolve_model(args.model), args.device, args.quantization, "auto", args.fp8_weights);
  const auto tokens = parse_ids(args.ids);
  const ModelConfig& config = model->config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n > config.max_position_embeddings)
    fail("--ids: {} tokens exceed the model's context of {}", n, config.max_position_embeddings);
  constexpr int kBlockSize = 16;
  const int num_blocks = static_cast<int>((n + kBlockSize - 1) / kBlockSize);
  const auto cache_owner = model->make_kv_cache(num_blocks, kBlockSize);
  KvCache& cache = *cache_owner;
  std::vector<int32_t> blocks(num_blocks);
  std::iota(blocks.begin(), blocks.end(), 0);
  Batch batch{tokens, {{.num_tokens = n, .start_position = 0, .block_table = blocks, .all_logits = true}}};
  auto logits = model->forward(batch, cache);
  write_safetensors(args.out, {{"logits", DType::F32, {n, config.vocab_size}, std::as_bytes(std::span(logits))}});
  spdlog::info("wrote logits [{}, {}] to {}", n, config.vocab_size, args.out);
}

}  // namespace

void register_logits(CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  auto* cmd = app.add_subcommand("logits", "Write the logits of every position of one forward pass (float32 safetensors)");
  cmd->add_option("--model", args->model, "Model directory, or 'demo'")->capture_default_str();
  add_device_option(*cmd, args->device);
  add_quantization_option(*cmd, args->quantization);
  add_fp8_weights_option(*cmd, args->fp8_weights);
  cmd->add_option("--ids", args->ids, "Token ids, e.g. 1,2,3")->required();
  cmd->add_option("--out", args->out, "Output file; holds one tensor 'logits' of shape [n, vocab]")->required();
  cmd->callback([args] { run_logits(*args); });
}

}  // namespace tide::cli
