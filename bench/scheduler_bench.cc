// The scheduler's CPU cost per step with many running requests, without a model: what the
// engine adds on top of the forward pass. Google Benchmark prints a table; pass
// --benchmark_format=json (or --benchmark_out=FILE) for machines.
#include <benchmark/benchmark.h>

#include <memory>
#include <numeric>
#include <vector>

#include "engine/block_manager.h"
#include "engine/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace tide {
namespace {

const tokenizer::Tokenizer& tiny_tokenizer() {
  static const auto t = tokenizer::Tokenizer::from_directory(TIDE_FIXTURES_DIR "/models/qwen2-tiny");
  return t;
}

// `running` sequences in steady decode: each step schedules one token for each, the engine
// appends the sampled token, and blocks are registered for prefix caching as they fill.
constexpr int kSteps = 2000;

void BM_ScheduleDecodeStep(benchmark::State& state) {
  const int running = static_cast<int>(state.range(0));
  // Enough blocks that no sequence is ever preempted within the timed steps (kSteps).
  const int prompt_len = 512, block_size = 16;
  BlockManager blocks(running * ((prompt_len + kSteps + 64) / block_size + 1), block_size, true);
  Scheduler scheduler({.max_num_seqs = running, .max_batched_tokens = 8192}, blocks);
  std::vector<std::unique_ptr<Sequence>> seqs;
  for (int i = 0; i < running; ++i) {
    GenerationRequest r;
    r.prompt.resize(prompt_len);
    std::iota(r.prompt.begin(), r.prompt.end(), i * prompt_len);
    r.max_tokens = 1 << 20;
    seqs.push_back(std::make_unique<Sequence>(i, std::move(r), std::make_shared<RequestStream>(), tiny_tokenizer(), i));
    scheduler.add(seqs.back().get());
  }
  // Admit and "prefill" everyone first.
  while (true) {
    auto chunks = scheduler.schedule();
    bool all_decoding = true;
    for (auto& c : chunks) {
      c.seq->computed += c.num_tokens;
      if (c.seq->computed == static_cast<int64_t>(c.seq->tokens.size())) c.seq->tokens.push_back(7);
      all_decoding &= c.num_tokens == 1;
    }
    if (all_decoding && scheduler.num_running() == running) break;
  }
  int64_t scheduled = 0;
  for (auto _ : state) {
    auto chunks = scheduler.schedule();
    // What the engine does around the forward pass: batch assembly and block registration.
    std::vector<int32_t> batch_tokens;
    batch_tokens.reserve(chunks.size());
    for (auto& c : chunks) {
      batch_tokens.insert(batch_tokens.end(), c.seq->tokens.begin() + c.seq->computed,
                          c.seq->tokens.begin() + c.seq->computed + c.num_tokens);
      c.seq->computed += c.num_tokens;
      blocks.register_full_blocks(c.seq->blocks, c.seq->tokens, c.seq->computed, c.seq->prefix_cursor);
      c.seq->tokens.push_back(11);
    }
    benchmark::DoNotOptimize(batch_tokens.data());
    scheduled += static_cast<int64_t>(chunks.size());
  }
  state.counters["seqs_per_step"] = benchmark::Counter(static_cast<double>(scheduled) / state.iterations());
}
BENCHMARK(BM_ScheduleDecodeStep)->Arg(32)->Arg(256)->Arg(1024)->Iterations(kSteps)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tide

BENCHMARK_MAIN();
