#pragma once
// `tide bench engine`: step-level throughput of the engine's model on the GPU, no HTTP. Decode
// steps at each batch size and context length, and prefill steps at each prompt length, each
// printed beside its roofline measured in the same run:
//   decode:  bytes the step must read (the weights it touches, the batch's latent cache) over the
//            HBM copy bandwidth;
//   prefill: the FLOPs of the step (matrix products, and causal attention as plain MHA would do
//            it) over the bf16 GEMM rate.
// Prints a table for people and JSON for machines.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tide::bench {

struct EngineBenchOptions {
  std::string model;                 // a model directory (config.json; safetensors unless dummy)
  std::string load_format = "dummy"; // dummy: weights generated on the GPU from config.json
  std::string fp8_weights = "fp8";   // bf16: an fp8 config's fp8 matrices widened at load
  std::vector<int> batches = {1, 64, 256};
  std::vector<int> contexts = {1024};
  std::vector<int> prefill_tokens = {8192};
  int steps = 20;
  int block_size = 64;
  std::string sampling = "greedy";  // greedy: tokens picked on the GPU; logits: every row to the host
  std::string json_path;
};

void add_engine_bench_options(CLI::App& cmd, EngineBenchOptions& options);

// Throws tide::Error for a model it cannot load or a machine without a GPU.
void run_engine_bench(const EngineBenchOptions& options);

}  // namespace tide::bench
