#include "bench/engine/engine_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include <unistd.h>

#include "backend/cuda/ceilings.h"
#include "backend/cuda/ops.h"
#include "common/error.h"
#include "model/cuda/cuda_deepseek_model.h"
#include "model/cuda/cuda_model.h"
#include "model/cuda/device_kv_cache.h"
#include "model/model.h"
#include "model/weight_footprint.h"

namespace tide::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  std::string phase;  // decode | prefill
  int batch = 0, context = 0, tokens = 0;
  double ms = 0, tokens_per_s = 0;
  double gpu_ms = 0;       // the step on the GPU alone, first kernel to last copy back
  double roofline_ms = 0;  // the step at the measured ceiling
  std::string bound;       // what the roofline is: "HBM" or "bf16 tensor"
  double work = 0;         // GB read (decode) or TFLOP (prefill)
};

// One line, rewritten in place on a terminal; nothing in a log.
void progress(const std::string& line) {
  static const bool terminal = isatty(STDERR_FILENO);
  if (terminal) std::cerr << "\r\033[K" << line << std::flush;
}

// Block tables of `batch` sequences with room for `tokens` each, in consecutive blocks.
std::vector<std::vector<int32_t>> tables_for(int batch, int tokens, int block_size) {
  const int per_seq = (tokens + block_size - 1) / block_size;
  std::vector<std::vector<int32_t>> tables(batch, std::vector<int32_t>(per_seq));
  for (int s = 0; s < batch; ++s) std::iota(tables[s].begin(), tables[s].end(), s * per_seq);
  return tables;
}

// Marks every sequence greedy (the server's temperature-0 path: the model picks the token on the
// GPU) or leaves it wanting its logits on the host (the sampling path).
Batch with_sampling(Batch b, const std::string& sampling) {
  for (auto& s : b.sequences) s.pick = sampling == "greedy";
  return b;
}

struct StepTimes {
  double wall_ms = 0, gpu_ms = 0;  // medians
};

StepTimes time_steps(const Model& model, KvCache& cache, int steps, const std::function<Batch(int)>& batch_for,
                     const std::string& sampling, const std::string& label) {
  const auto* gpu_model = dynamic_cast<const cuda::CudaModelBase*>(&model);
  if (gpu_model) gpu_model->time_steps_on_gpu();
  // Warm-up: scratch buffers, cuBLASLt plans, the decode graph's capture.
  for (int w = 0; w < 2; ++w) model.step(with_sampling(batch_for(w), sampling), cache);
  std::vector<double> wall, gpu;
  for (int s = 0; s < steps; ++s) {
    const Batch batch = with_sampling(batch_for(2 + s), sampling);
    const auto started = Clock::now();
    model.step(batch, cache);
    wall.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    if (gpu_model) gpu.push_back(gpu_model->last_step_gpu_ms());
    progress(fmt::format("  {}: step {}/{}", label, s + 1, steps));
  }
  const auto median = [](std::vector<double>& v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {.wall_ms = median(wall), .gpu_ms = median(gpu)};
}

Row decode_row(const Model& model, int batch, int context, const EngineBenchOptions& o, double copy_gbs) {
  const ModelConfig& c = model.config();
  const int capacity = context + o.steps + 3;
  const auto tables = tables_for(batch, capacity, o.block_size);
  auto cache = model.make_kv_cache(batch * static_cast<int>(tables[0].size()), o.block_size);
  // The cache holds random entries as if each sequence had `context` tokens already: a prefill
  // of batch × context tokens would take longer than the measurement itself.
  auto* device_cache = dynamic_cast<cuda::DeviceKvCache*>(cache.get());
  if (!device_cache) fail("tide bench engine: the model's KV cache is not on the GPU");
  for (int l = 0; l < c.num_layers; ++l)
    cuda::fill_uniform(device_cache->layer(l),
                       static_cast<std::size_t>(cache->num_blocks()) * o.block_size * c.kv_entry_dim(), 100 + l, 1.f,
                       nullptr);
  auto batch_for = [&](int step) {
    Batch b;
    for (int s = 0; s < batch; ++s) {
      b.tokens.push_back((31 * s + 7 * step + 3) % c.vocab_size);
      b.sequences.push_back({.num_tokens = 1, .start_position = context + step, .block_table = tables[s]});
    }
    return b;
  };
  Row r;
  r.phase = "decode";
  r.batch = batch;
  r.context = context;
  r.tokens = batch;
  const StepTimes times =
      time_steps(model, *cache, o.steps, batch_for, o.sampling, fmt::format("decode batch {} context {}", batch, context));
  r.ms = times.wall_ms;
  r.gpu_ms = times.gpu_ms;
  r.tokens_per_s = batch / (r.ms * 1e-3);
  // On the GPU, DeepSeek's weights as the model stores them (fp8 ones at a byte a parameter and
  // their block scales); elsewhere bf16, 2 bytes a parameter.
  const auto* gpu_model = dynamic_cast<const cuda::DeepSeekCudaModel*>(&model);
  const double weight_bytes =
      gpu_model ? gpu_model->decode_weight_bytes(batch) : 2.0 * decode_params_per_step(c, batch);
  const double cache_bytes = 2.0 * batch * (context + o.steps / 2 + 3) * c.kv_entry_dim() * c.num_layers;
  r.work = (weight_bytes + cache_bytes) / 1e9;
  r.roofline_ms = r.work / copy_gbs * 1e3;
  r.bound = "HBM";
  return r;
}

// The tensor-core rates a prefill's roofline takes: bf16, and fp8 where the model multiplies some
// of its matrices in fp8 (0 otherwise).
struct GemmRates {
  double bf16 = 0, fp8 = 0;
};

Row prefill_row(const Model& model, int tokens, const EngineBenchOptions& o, const GemmRates& rates) {
  const ModelConfig& c = model.config();
  const auto tables = tables_for(1, tokens, o.block_size);
  auto cache = model.make_kv_cache(static_cast<int>(tables[0].size()), o.block_size);
  auto batch_for = [&](int step) {
    Batch b;
    for (int i = 0; i < tokens; ++i) b.tokens.push_back((17 * i + step + 1) % c.vocab_size);
    b.sequences.push_back({.num_tokens = tokens, .start_position = 0, .block_table = tables[0]});
    return b;
  };
  Row r;
  r.phase = "prefill";
  r.batch = 1;
  r.tokens = tokens;
  const StepTimes times = time_steps(model, *cache, std::max(3, o.steps / 4), batch_for, o.sampling,
                                    fmt::format("prefill {} tokens", tokens));
  r.ms = times.wall_ms;
  r.gpu_ms = times.gpu_ms;
  r.tokens_per_s = tokens / (r.ms * 1e-3);
  // Matrix products of every token, the LM head of the last, and causal attention as MHA over
  // expanded keys (q·k over the key width, p·v over the value width, each query seeing its
  // prefix: MLA's qk_head_dim and v_head_dim, or head_dim for both).
  const double matmul = 2.0 * (static_cast<double>(forward_matmul_params_per_token(c)) * tokens +
                               static_cast<double>(c.vocab_size) * c.hidden_size);
  const double pairs = 0.5 * tokens * (tokens + 1.0);
  const bool mla = c.family == ModelFamily::DeepSeek;
  const double head_dims = mla ? c.qk_head_dim() + c.v_head_dim : 2.0 * c.head_dim;
  const double attention = 2.0 * pairs * c.num_heads * head_dims * c.num_layers;
  r.work = (matmul + attention) / 1e12;
  // The products an fp8 model multiplies in fp8 at the fp8 rate, the rest at the bf16 one.
  const auto* gpu_model = dynamic_cast<const cuda::DeepSeekCudaModel*>(&model);
  const double fp8_work = gpu_model && rates.fp8 > 0 ? 2.0 * gpu_model->fp8_params_per_token() * tokens / 1e12 : 0.0;
  r.roofline_ms = ((r.work - fp8_work) / rates.bf16 + (fp8_work > 0 ? fp8_work / rates.fp8 : 0.0)) * 1e3;
  r.bound = fp8_work > 0 ? "bf16 + fp8 tensor" : "bf16 tensor";
  return r;
}

}  // namespace

void add_engine_bench_options(CLI::App& cmd, EngineBenchOptions& o) {
  cmd.add_option("--model", o.model, "Model directory (its config.json; e.g. share/models/deepseek-v2-lite)")
      ->required();
  cmd.add_option("--load-format", o.load_format,
                 "dummy: random weights of the config's shapes generated on the GPU; auto: the directory's "
                 "safetensors")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
  cmd.add_option("--fp8-weights,--fp8-experts", o.fp8_weights,
                 "An fp8 model's fp8 matrices (experts and projections): fp8 (kept and multiplied as stored) or bf16 "
                 "(widened at load), to compare the two on the same config")
      ->check(CLI::IsMember({"fp8", "bf16"}))
      ->capture_default_str();
  cmd.add_option("--batch", o.batches, "Decode batch sizes")->delimiter(',')->check(CLI::Range(1, 4096))->capture_default_str();
  cmd.add_option("--context", o.contexts, "Context lengths the decode steps attend over")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd.add_option("--prefill", o.prefill_tokens, "Prompt lengths of the prefill steps (0: none)")
      ->delimiter(',')
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd.add_option("--steps", o.steps, "Timed steps per decode row (the median is reported)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd.add_option("--block-size", o.block_size, "KV cache block size in tokens")->check(CLI::Range(1, 1024))->capture_default_str();
  cmd.add_option("--sampling", o.sampling,
                 "greedy: each step's tokens picked on the GPU, as the server does for temperature-0 requests; "
                 "logits: every row's logits copied to the host, as for requests that sample")
      ->check(CLI::IsMember({"greedy", "logits"}))
      ->capture_default_str();
  cmd.add_option("--json", o.json_path, "Also write the results as JSON to this file");
}

void run_engine_bench(const EngineBenchOptions& o) {
  if (!cuda::device_available()) fail("tide bench engine: no CUDA GPU is visible to this process");
  progress("measuring the ceilings: HBM copy bandwidth, bf16 GEMM rate");
  const double copy_gbs = cuda::measure_copy_gb_per_s();
  GemmRates rates{.bf16 = cuda::measure_bf16_gemm_tflops()};
  progress(fmt::format("loading {} ({} weights)", o.model, o.load_format));
  const auto loaded = Clock::now();
  const auto model = load_model(o.model, {.device = Device::Cuda,
                                          .load_format = parse_load_format(o.load_format),
                                          .fp8_weights = parse_fp8_weights(o.fp8_weights)});
  const double load_s = std::chrono::duration<double>(Clock::now() - loaded).count();
  const auto* gpu_model = dynamic_cast<const cuda::DeepSeekCudaModel*>(model.get());
  if (gpu_model && gpu_model->fp8_params_per_token() > 0) {
    progress("measuring the fp8 GEMM rate");
    rates.fp8 = cuda::measure_fp8_gemm_tflops();
  }

  std::vector<Row> rows;
  for (int context : o.contexts)
    for (int batch : o.batches) rows.push_back(decode_row(*model, batch, context, o, copy_gbs));
  for (int tokens : o.prefill_tokens)
    if (tokens > 0) rows.push_back(prefill_row(*model, tokens, o, rates));
  progress("");

  const ModelConfig& c = model->config();
  std::cout << fmt::format("tide bench engine: {} ({}, {:.2f} GB of weights as stored, loaded in {:.1f} s) on {}\n", o.model,
                           c.model_type, model->weight_bytes() / 1e9, load_s, model->device_description());
  std::cout << fmt::format("ceilings measured in this run: HBM copy {:.0f} GB/s, bf16 GEMM {:.0f} TFLOP/s{}\n", copy_gbs,
                           rates.bf16, rates.fp8 > 0 ? fmt::format(", fp8 GEMM {:.0f} TFLOP/s", rates.fp8) : "");
  std::cout << fmt::format("sampling: {}\n", o.sampling == "greedy" ? "greedy, the tokens picked on the GPU"
                                                                     : "every row's logits copied to the host");
  std::cout << fmt::format("{:<8} {:>6} {:>8} {:>8} {:>10} {:>12} {:>12} {:>13} {:>9} {:>11}\n", "phase", "batch",
                           "context", "tokens", "ms/step", "tokens/s", "work", "roofline ms", "of roof", "GPU ms/step");
  nlohmann::json json = {{"benchmark", "engine"},       {"model", o.model},
                         {"model_type", c.model_type},  {"load_format", o.load_format}, {"sampling", o.sampling},
                         {"device", model->device_description()}, {"weights_gb", model->weight_bytes() / 1e9},
                         {"hbm_copy_gb_per_s", copy_gbs}, {"bf16_gemm_tflops", rates.bf16},
                         {"fp8_gemm_tflops", rates.fp8},
                         {"rows", nlohmann::json::array()}};
  for (const Row& r : rows) {
    const std::string work = r.phase == "decode" ? fmt::format("{:.2f} GB", r.work) : fmt::format("{:.1f} TFLOP", r.work);
    std::cout << fmt::format("{:<8} {:>6} {:>8} {:>8} {:>10.3f} {:>12.0f} {:>12} {:>13.3f} {:>8.1f}% {:>11.3f}\n",
                             r.phase, r.batch, r.context, r.tokens, r.ms, r.tokens_per_s, work, r.roofline_ms,
                             100.0 * r.roofline_ms / r.ms, r.gpu_ms);
    json["rows"].push_back({{"phase", r.phase}, {"batch", r.batch}, {"context", r.context}, {"tokens", r.tokens},
                            {"ms_per_step", r.ms}, {"tokens_per_s", r.tokens_per_s},
                            {r.phase == "decode" ? "gb_read" : "tflop", r.work}, {"roofline_ms", r.roofline_ms},
                            {"bound", r.bound}, {"percent_of_roofline", 100.0 * r.roofline_ms / r.ms},
                            {"gpu_ms_per_step", r.gpu_ms}});
  }
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    if (!out) fail("--json: cannot write {}", o.json_path);
    out << json.dump(2) << "\n";
  } else {
    std::cout << json.dump() << "\n";
  }
}

}  // namespace tide::bench
