// tide bench cpu: decode speed of the CPU path against the machine's memory bandwidth, measured
// in the same run. Decode at small batch is bound by reading the weights, so the honest figure
// is achieved GB/s of weight reads beside what the memory system can deliver.
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>

#include "backend/cpu/memory_bandwidth.h"
#ifdef TIDE_WITH_CUDA
#include "bench/engine/engine_bench.h"
#endif
#include "cli/commands.h"
#include "cli/json_output.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "common/paths.h"
#include "model/model.h"
#include "model/random_model.h"
#include "model/weight_footprint.h"

namespace tide::cli {
namespace {

struct BenchArgs {
  std::vector<std::string> models = {"demo", "large"};
  std::vector<int> batches = {1, 8};
  int steps = 32;
  int prompt_tokens = 32;
  std::string json_path;
};

// A DeepSeek-V3-shaped model of about 1.4 GB of bf16 weights: far larger than any CPU cache.
RandomDeepSeekShape large_shape() {
  RandomDeepSeekShape s;
  s.vocab_size = 32000;
  s.hidden_size = 2048;
  s.intermediate_size = 5120;
  s.num_layers = 6;
  s.num_heads = 16;
  s.q_lora_rank = 512;
  s.kv_lora_rank = 256;
  s.qk_nope_head_dim = 64;
  s.qk_rope_head_dim = 32;
  s.v_head_dim = 64;
  s.n_routed_experts = 32;
  s.num_experts_per_tok = 4;
  s.n_group = 4;
  s.topk_group = 2;
  s.moe_intermediate_size = 512;
  return s;
}

std::filesystem::path resolve_bench_model(const std::string& name) {
  if (name != "large") return resolve_model(name);
  const auto dir = tide_home() / "bench-deepseek-large";
  if (!path_exists(dir / "model.safetensors")) {
    spdlog::info("creating the {:.2f} GB random benchmark model in {} (once)",
                 random_deepseek_weight_bytes(large_shape()) / 1e9, dir.string());
    write_random_deepseek(dir, large_shape(), 7);
  }
  return dir;
}

struct Result {
  std::string model;
  int batch;
  double weights_gb;
  double tokens_per_s;
  double ms_per_step;
  double weight_gb_per_s;
};

Result bench_decode(const std::string& name, const Model& model, int batch_size, const BenchArgs& args) {
  const ModelConfig& c = model.config();
  constexpr int kBlockSize = 16;
  const int per_seq = (args.prompt_tokens + args.steps + kBlockSize) / kBlockSize;
  const auto cache_owner = model.make_kv_cache(per_seq * batch_size, kBlockSize);
  KvCache& cache = *cache_owner;
  std::vector<std::vector<int32_t>> tables(batch_size, std::vector<int32_t>(per_seq));
  for (int s = 0; s < batch_size; ++s) std::iota(tables[s].begin(), tables[s].end(), s * per_seq);

  Batch prefill;
  for (int s = 0; s < batch_size; ++s) {
    for (int i = 0; i < args.prompt_tokens; ++i) prefill.tokens.push_back((17 * s + 31 * i + 3) % c.vocab_size);
    prefill.sequences.push_back({.num_tokens = args.prompt_tokens, .start_position = 0, .block_table = tables[s]});
  }
  auto logits = model.forward(prefill, cache);

  auto started = std::chrono::steady_clock::now();
  for (int step = 0; step < args.steps; ++step) {
    Batch decode;
    for (int s = 0; s < batch_size; ++s) {
      const float* row = logits.data() + static_cast<int64_t>(s) * c.vocab_size;
      decode.tokens.push_back(static_cast<int32_t>(std::max_element(row, row + c.vocab_size) - row));
      decode.sequences.push_back({.num_tokens = 1, .start_position = args.prompt_tokens + step, .block_table = tables[s]});
    }
    logits = model.forward(decode, cache);
    std::cerr << "\r  " << name << " batch " << batch_size << ": step " << step + 1 << "/" << args.steps << std::flush;
  }
  std::cerr << "\r\033[K";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // At batch 1 a step reads the attention, dense and lm_head weights plus the routed experts of
  // one token; larger batches touch more experts, so GB/s is stated for batch 1 only.
  const double bytes_per_step = 2.0 * static_cast<double>(decode_params_per_token(c));
  const double steps_per_s = args.steps / seconds;
  return {name, batch_size, model.weight_bytes() / 1e9, steps_per_s * batch_size, 1e3 / steps_per_s,
          batch_size == 1 ? bytes_per_step * steps_per_s / 1e9 : 0.0};
}

void run_bench(const BenchArgs& args) {
  const unsigned threads = std::thread::hardware_concurrency();
  spdlog::info("measuring memory read bandwidth ({} threads)", threads);
  const double bandwidth = cpu::measure_read_bandwidth();

  std::vector<Result> results;
  for (const auto& name : args.models) {
    const auto dir = resolve_bench_model(name);
    spdlog::info("loading {}", dir.string());
    auto model = load_model(dir);
    for (int b : args.batches) results.push_back(bench_decode(name, *model, b, args));
  }

  std::cout << fmt::format("CPU decode ({} threads; memory read bandwidth {:.1f} GB/s)\n", threads, bandwidth);
  std::cout << fmt::format("{:<8} {:>6} {:>11} {:>10} {:>9} {:>14} {:>9}\n", "model", "batch", "weights GB",
                           "tokens/s", "ms/step", "weight GB/s", "of peak");
  nlohmann::json json = {{"benchmark", "cpu_decode"}, {"threads", threads}, {"memory_read_gb_per_s", bandwidth},
                         {"steps", args.steps}, {"prompt_tokens", args.prompt_tokens}, {"results", nlohmann::json::array()}};
  for (const auto& r : results) {
    std::string gbps = r.batch == 1 ? fmt::format("{:.2f}", r.weight_gb_per_s) : "-";
    std::string share = r.batch == 1 ? fmt::format("{:.0f}%", 100 * r.weight_gb_per_s / bandwidth) : "-";
    std::cout << fmt::format("{:<8} {:>6} {:>11.3f} {:>10.1f} {:>9.2f} {:>14} {:>9}\n", r.model, r.batch, r.weights_gb,
                             r.tokens_per_s, r.ms_per_step, gbps, share);
    json["results"].push_back({{"model", r.model}, {"batch", r.batch}, {"weights_gb", r.weights_gb},
                               {"tokens_per_s", r.tokens_per_s}, {"ms_per_step", r.ms_per_step},
                               {"weight_gb_per_s", r.weight_gb_per_s}});
  }
  emit_json(json, args.json_path);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks (a table for people, JSON for machines)");
  bench->require_subcommand(1);
  auto args = std::make_shared<BenchArgs>();
  auto* cpu = bench->add_subcommand("cpu", "Decode tokens/s on the CPU beside the memory bandwidth measured in the same run");
  cpu->add_option("--models", args->models, "Models: 'demo', 'large' (a 1.4 GB random DeepSeek-shaped model) or directories")
      ->delimiter(',')
      ->capture_default_str();
  cpu->add_option("--batch", args->batches, "Batch sizes")->delimiter(',')->check(CLI::Range(1, 4096))->capture_default_str();
  cpu->add_option("--steps", args->steps, "Decode steps to time")->check(CLI::Range(1, 100000))->capture_default_str();
  cpu->add_option("--prompt-tokens", args->prompt_tokens, "Prompt length before decoding")->check(CLI::Range(1, 100000))->capture_default_str();
  cpu->add_option("--json", args->json_path, "Write the JSON results here (default: print after the table)");
  cpu->callback([args] { run_bench(*args); });
  auto* engine = bench->add_subcommand(
      "engine", "Step-level throughput of the model on the GPU (no HTTP) against its rooflines measured in the same run");
#ifdef TIDE_WITH_CUDA
  auto engine_options = std::make_shared<bench::EngineBenchOptions>();
  bench::add_engine_bench_options(*engine, *engine_options);
  engine->callback([engine_options] { bench::run_engine_bench(*engine_options); });
#else
  engine->allow_extras();
  engine->callback([] { fail("tide bench engine measures the GPU: this build has no CUDA backend (cmake --preset cuda)"); });
#endif
  register_bench_serve(*bench);
  register_bench_http(*bench);
}

}  // namespace tide::cli
