// The CUDA models of every family (bf16; an fp8 checkpoint's fp8 matrices in fp8) against the
// reference fixtures and against the CPU float32 path: logits at every position within 2e-2
// relative error (fp8: e4m3 steps of 2^-4, one at the median and two anywhere); greedy decoding
// through the cached path gives the fixture's tokens up to the first step where the reference's
// top two logits lie closer than that error (past it the two may rightly part); a batch gives what
// each sequence gives alone. Skipped on machines without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <unistd.h>

#include "decode_support.h"
#include "fixture_support.h"
#include "model/batch_layout.h"
#include "model/checkpoint/checkpoint.h"
#include "model/cuda/cuda_model.h"
#include "model/model.h"
#include "model/random_model.h"

namespace tide {
namespace {

using testing::argmax;
using testing::block_range;
using testing::cached_decode;
using testing::full_pass;
using testing::load_expected;
using testing::model_fixture;
using testing::relative_error;

constexpr int kBlockSize = testing::kDecodeBlockSize;
constexpr double kTolerance = 2e-2;  // bf16 storage and activations against float32
// An fp8 checkpoint's products quantize their inputs to e4m3 per 1×128 block, as DeepSeek's own
// fp8 inference and the block-fp8 kernels of other engines do: every input moves by up to one
// step of e4m3's 3-bit mantissa (2^-4), and so, at the median, do the logits.
constexpr double kFp8Tolerance = 0.0625;

#define SKIP_WITHOUT_GPU() \
  if (!cuda::device_available()) GTEST_SKIP() << "no CUDA GPU on this machine"

std::unique_ptr<Model> load_on(const std::filesystem::path& dir, Device device,
                               Fp8Weights fp8_weights = Fp8Weights::Native) {
  return load_model(dir, {.device = device, .fp8_weights = fp8_weights});
}

// A small random DeepSeek with DeepSeek's own latent and rope-key widths (512, 64), so that the
// specialised MLA kernels take it, and dense layers only, so that no routing tie can move a
// token: any difference from the CPU path is the attention's. Written to a temporary directory,
// loaded on both devices; the directory goes with it.
struct RealMlaModel {
  RealMlaModel(const std::string& name, int heads, int q_lora_rank, int nope, int v, uint64_t seed, bool fp8 = false) {
    shape.vocab_size = 1024;
    shape.hidden_size = 256;
    shape.num_layers = 2;
    shape.first_k_dense_replace = 2;
    shape.num_heads = heads;
    shape.q_lora_rank = q_lora_rank;
    shape.kv_lora_rank = 512;
    shape.qk_nope_head_dim = nope;
    shape.qk_rope_head_dim = 64;
    shape.v_head_dim = v;
    shape.max_position_embeddings = 1024;
    shape.fp8 = fp8;
    dir = std::filesystem::temp_directory_path() / ("tide-cuda-model-test-" + name + "-" + std::to_string(::getpid()));
    write_random_deepseek(dir, shape, seed);
    gpu = load_on(dir, Device::Cuda);
    cpu = load_on(dir, Device::Cpu);
  }
  ~RealMlaModel() { std::filesystem::remove_all(dir); }
  RandomDeepSeekShape shape;
  std::filesystem::path dir;
  std::unique_ptr<Model> gpu, cpu;
};

bool is_fp8(const std::string& fixture) { return fixture.find("fp8") != std::string::npos; }

// The fp8 fixture's matrices are multiplied in fp8 on the GPU.
double tolerance_for(const std::string& fixture) { return is_fp8(fixture) ? kFp8Tolerance : kTolerance; }

class CudaFixtureTest : public ::testing::TestWithParam<std::string> {};

// A bf16 run of these random MoE models routes a few tokens to a different expert than the
// float32 reference where two router scores nearly tie, and those positions' logits move far more
// than rounding alone: transformers' own bf16 run of the same fixtures on the same GPU has its
// worst positions at 0.249 (deepseek-v3-tiny) and 0.121 (deepseek-v2-lite-tiny), against 1e-6 in
// float32 (docs/benchmarks.md). So the bound holds for all but a few positions per model, and the
// median is held well inside it. The fp8 fixture's bound is one e4m3 step at the median and two
// at any position: its error is e4m3's rounding of every product's input, compounded.
TEST_P(CudaFixtureTest, LogitsAtEveryPositionWithinBf16ErrorOfTheReference) {
  SKIP_WITHOUT_GPU();
  const auto dir = model_fixture(GetParam());
  const auto model = load_on(dir, Device::Cuda);
  const auto errors = testing::position_errors(*model, load_expected(dir));
  const bool fp8 = is_fp8(GetParam());
  const double bound = fp8 ? 2 * kFp8Tolerance : kTolerance, median_bound = fp8 ? kFp8Tolerance : kTolerance / 2;
  const auto over = errors.at_or_over(bound);
  std::printf("[ CUDA ] %s: %zu positions, median relative error %.2e, worst %.2e, %td over %.2e\n",
              GetParam().c_str(), errors.sorted.size(), errors.median(), errors.worst(), over, bound);
  EXPECT_LE(over, static_cast<std::ptrdiff_t>(errors.sorted.size() / 20)) << "more than 5% of positions over the bound";
  EXPECT_LT(errors.median(), median_bound);
}

// The same fp8 checkpoint with its fp8 matrices widened to bf16 at load: the bf16 bound holds,
// and the difference to the run above is what multiplying in fp8 costs.
TEST(CudaModel, Fp8CheckpointWidenedToBf16IsWithinBf16Error) {
  SKIP_WITHOUT_GPU();
  const auto dir = model_fixture("deepseek-v3-fp8-tiny");
  const auto model = load_on(dir, Device::Cuda, Fp8Weights::Bf16);
  const auto errors = testing::position_errors(*model, load_expected(dir));
  const auto over = errors.at_or_over(kTolerance);
  std::printf("[ CUDA ] deepseek-v3-fp8-tiny, widened to bf16: median relative error %.2e, worst %.2e, %td over %.0e\n",
              errors.median(), errors.worst(), over, kTolerance);
  EXPECT_LE(over, static_cast<std::ptrdiff_t>(errors.sorted.size() / 20));
  EXPECT_LT(errors.median(), kTolerance / 2);
}

// An fp8 checkpoint keeps every matrix it stores in fp8 that a GPU product can read so: each
// projection but kv_b_proj, the dense MLP, the shared and the routed experts, at one byte a
// parameter (rows padded to whole 128-row blocks) plus a 4-byte scale per 128×128 block, where
// widened to bf16 each takes two bytes a parameter.
TEST(CudaModel, Fp8CheckpointKeepsItsProjectionsAndExpertsInFp8) {
  SKIP_WITHOUT_GPU();
  const auto dir = model_fixture("deepseek-v3-fp8-tiny");
  const auto native = load_on(dir, Device::Cuda);
  const auto widened = load_on(dir, Device::Cuda, Fp8Weights::Bf16);
  const ModelConfig& c = native->config();
  double saved = 0;  // bytes the fp8 copies save over bf16 ones
  auto fp8 = [&](int64_t rows, int64_t cols, int64_t copies = 1) {
    const int64_t blocks = (rows + 127) / 128;
    saved += copies * (2.0 * rows * cols - static_cast<double>(blocks * 128 * cols) - 4.0 * blocks * (cols / 128));
  };
  const int64_t D = c.hidden_size, H = c.num_heads;
  for (int l = 0; l < c.num_layers; ++l) {
    fp8(c.q_lora_rank + c.kv_lora_rank + c.qk_rope_head_dim, D);  // q_a and kv_a, stacked
    fp8(H * c.qk_head_dim(), c.q_lora_rank);
    fp8(D, H * c.v_head_dim);
    const int64_t inter = c.is_moe_layer(l) ? c.moe_intermediate_size : c.intermediate_size;
    const int64_t experts = c.is_moe_layer(l) ? c.n_routed_experts + c.n_shared_experts : 1;
    fp8(2 * inter, D, experts);
    fp8(D, inter, experts);
  }
  EXPECT_DOUBLE_EQ(static_cast<double>(widened->weight_bytes()) - static_cast<double>(native->weight_bytes()), saved);
}

TEST_P(CudaFixtureTest, GreedyTokensMatchWhereTheReferenceMarginExceedsTheError) {
  SKIP_WITHOUT_GPU();
  const auto dir = model_fixture(GetParam());
  const auto gpu = load_on(dir, Device::Cuda);
  const auto cpu = load_on(dir, Device::Cpu);
  const auto expected = load_expected(dir);
  int compared = 0;
  for (std::size_t p = 0; p < expected.prompts.size(); ++p) {
    const auto r =
        testing::compare_greedy(*gpu, *cpu, expected.prompts[p], expected.greedy[p], tolerance_for(GetParam()));
    EXPECT_EQ(r.mismatch_step, -1) << GetParam() << " prompt " << p << " step " << r.mismatch_step << " gave "
                                   << r.got << " (reference margin " << r.margin << ")";
    compared += r.compared;
  }
  std::printf("[ CUDA ] %s: %d greedy steps compared (before any near tie)\n", GetParam().c_str(), compared);
}

TEST_P(CudaFixtureTest, BatchOfDifferentLengthsGivesWhatEachGivesAlone) {
  SKIP_WITHOUT_GPU();
  const auto dir = model_fixture(GetParam());
  const auto model = load_on(dir, Device::Cuda);
  const auto expected = load_expected(dir);
  const int vocab = model->config().vocab_size;
  const int per_seq = 10, nseq = static_cast<int>(expected.prompts.size());
  auto cache = model->make_kv_cache(per_seq * nseq, kBlockSize);
  std::vector<std::vector<int32_t>> tables;
  for (int s = 0; s < nseq; ++s) tables.push_back(block_range(s * per_seq, per_seq));
  Batch batch;
  for (int s = 0; s < nseq; ++s) {
    batch.tokens.insert(batch.tokens.end(), expected.prompts[s].begin(), expected.prompts[s].end());
    batch.sequences.push_back(
        {.num_tokens = static_cast<int64_t>(expected.prompts[s].size()), .start_position = 0, .block_table = tables[s]});
  }
  const auto together = model->forward(batch, *cache);
  // Then one decode step for all of them at once, after their different prompt lengths.
  Batch decode;
  for (int s = 0; s < nseq; ++s) {
    decode.tokens.push_back(expected.greedy[s][0]);
    decode.sequences.push_back(
        {.num_tokens = 1, .start_position = static_cast<int64_t>(expected.prompts[s].size()), .block_table = tables[s]});
  }
  const auto stepped = model->forward(decode, *cache);
  // bf16: the two runs' sums differ only in order. fp8: e4m3's rounding of every product's input
  // turns such differences into whole e4m3 steps within a few products, so each run is within one
  // step of the exact logits (LogitsAtEveryPosition...) and the two within two of each other.
  const double bound = is_fp8(GetParam()) ? 2 * kFp8Tolerance : 5e-3;
  for (int s = 0; s < nseq; ++s) {
    cached_decode(*model, expected.prompts[s], 2, [&](int step, std::span<const float> logits) {
      const float* batched = (step == 0 ? together : stepped).data() + s * vocab;
      EXPECT_LT(relative_error(batched, logits.data(), vocab), bound) << GetParam() << " sequence " << s << " step " << step;
      return expected.greedy[s][0];
    });
  }
}

INSTANTIATE_TEST_SUITE_P(DeepSeek, CudaFixtureTest,
                         ::testing::Values("deepseek-v3-tiny", "deepseek-v2-lite-tiny", "deepseek-v3-fp8-tiny"),
                         testing::fixture_test_name);
// The R1-Distill families: grouped-query attention, neox rope (llama3's scaling), Qwen2's q/k/v
// biases, a dense MLP.
INSTANTIATE_TEST_SUITE_P(Llama, CudaFixtureTest, ::testing::Values("llama3-tiny", "qwen2-tiny"),
                         testing::fixture_test_name);

TEST(CudaModel, TheCacheMayTakeWhatTheUtilizationLeavesBesideTheWeights) {
  SKIP_WITHOUT_GPU();
  const auto model = load_on(model_fixture("deepseek-v3-tiny"), Device::Cuda);
  std::size_t free = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free, &total), cudaSuccess);
  const std::size_t at_90 = model->device_memory_for_cache(0.9), at_50 = model->device_memory_for_cache(0.5);
  EXPECT_GT(at_90, at_50);
  EXPECT_LT(at_90, free);
  EXPECT_NEAR(static_cast<double>(at_90 - at_50), 0.4 * total, 0.01 * total);
  EXPECT_EQ(model->device_memory_for_cache(0.01), 0u);  // less than is already in use
}

// step() picks the greedy sequences' tokens on the GPU: the argmax of the rows forward() gives
// them; the other sequences' rows come back as forward() gives them.
TEST(CudaModel, StepPicksGreedyTokensOnTheGpuAndReturnsTheOtherRows) {
  SKIP_WITHOUT_GPU();
  const auto model = load_on(model_fixture("deepseek-v3-tiny"), Device::Cuda);
  const int vocab = model->config().vocab_size;
  const testing::MixedStepBatch mixed;
  auto batch_of = [&](bool pick) { return mixed.batch(pick); };
  auto cache = model->make_kv_cache(testing::MixedStepBatch::kBlocks, kBlockSize);
  const std::vector<float> all = model->forward(batch_of(false), *cache);
  const StepOutput out = model->step(batch_of(true), *cache);
  const std::span<const float> rows(all);
  EXPECT_EQ(out.next_tokens,
            (std::vector<int32_t>{argmax(rows.subspan(0, vocab)), -1, argmax(rows.subspan(4 * vocab, vocab))}));
  ASSERT_EQ(out.logits.size(), static_cast<std::size_t>(3 * vocab));
  EXPECT_LT(relative_error(out.logits.data(), all.data() + vocab, 3 * vocab), 1e-6);
}

// A server sees many decode shapes; their graphs are capped, the least recently used destroyed. A
// shape whose graph was evicted runs eagerly and is captured again, and gives the same logits.
TEST(CudaModel, AShapeWhoseGraphWasEvictedGivesTheSameLogits) {
  SKIP_WITHOUT_GPU();
  const auto model = load_on(model_fixture("deepseek-v3-tiny"), Device::Cuda);
  const int vocab = model->config().vocab_size;
  constexpr int kOtherShapes = 70;  // more than the cap of 64
  constexpr int kFirst = 3;
  auto cache = model->make_kv_cache(kFirst + kOtherShapes + 1, kBlockSize);
  std::vector<std::vector<int32_t>> tables;
  for (int s = 0; s <= kFirst + kOtherShapes; ++s) tables.push_back(block_range(s, 1));
  auto decode = [&](int sequences) {
    Batch b;
    for (int s = 0; s < sequences; ++s) {
      b.tokens.push_back((7 * s + 3) % vocab);
      b.sequences.push_back({.num_tokens = 1, .start_position = 0, .block_table = tables[s]});
    }
    return model->forward(b, *cache);
  };
  std::vector<float> replayed;
  for (int run = 0; run < 3; ++run) replayed = decode(kFirst);  // eager, captured, replayed
  for (int shape = kFirst + 1; shape <= kFirst + kOtherShapes; ++shape)
    for (int run = 0; run < 2; ++run) decode(shape);  // each shape captured once
  for (int run = 0; run < 3; ++run) {
    const auto again = decode(kFirst);
    EXPECT_LT(relative_error(again.data(), replayed.data(), static_cast<std::size_t>(kFirst) * vocab), 1e-6)
        << "run " << run << " after the eviction";
  }
}

// Sampled sequences are drawn on the GPU (sample_rows): the same token pick_token draws on the host
// from the row forward() gives, but for a rare near-tie the two logf's round apart.
TEST(CudaModel, StepDrawsSampledTokensOnTheGpuAsPickTokenDoes) {
  SKIP_WITHOUT_GPU();
  const auto model = load_on(model_fixture("deepseek-v3-tiny"), Device::Cuda);
  const int vocab = model->config().vocab_size;
  constexpr int kSequences = 48;
  auto cache = model->make_kv_cache(kSequences, kBlockSize);
  std::vector<std::vector<int32_t>> tables;
  Batch batch;
  for (int s = 0; s < kSequences; ++s) {
    tables.push_back(block_range(s, 1));
    batch.tokens.push_back((13 * s + 1) % vocab);
    batch.sequences.push_back({.num_tokens = 1, .start_position = 0, .block_table = tables.back()});
  }
  const std::vector<float> rows = model->forward(batch, *cache);
  for (int s = 0; s < kSequences; ++s) {
    batch.sequences[s].pick = true;
    batch.sequences[s].temperature = s % 4 == 0 ? 0.f : 0.25f * static_cast<float>(s % 4);
    batch.sequences[s].seed = 1000 + s;
  }
  const StepOutput out = model->step(batch, *cache);
  int same = 0;
  for (int s = 0; s < kSequences; ++s)
    same += out.next_tokens[s] == pick_token(rows.data() + s * vocab, vocab, batch.sequences[s].temperature,
                                             batch.sequences[s].seed);
  EXPECT_GE(same, kSequences - 1) << "GPU and host draws differ beyond a near-tie";
  EXPECT_TRUE(out.logits.empty());
}

// Long prefills multiply the experts in moe_grouped_gemm_wide's output tiles, shorter steps in
// moe_grouped_gemm's passes over each expert's weights. Four 200-token prompts in one step take
// the first path, the same prompts in 40-token chunks the second: their logits agree but for the
// odd routing near-tie (see LogitsAtEveryPosition...).
TEST(CudaModel, ExpertGemmsAgreeBetweenTheWideAndThePassKernels) {
  SKIP_WITHOUT_GPU();
  const auto model = load_on(model_fixture("deepseek-v3-tiny"), Device::Cuda);
  const int vocab = model->config().vocab_size, n = 200, nseq = 4, chunk = 40;
  const int per_seq = n / kBlockSize + 1;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  std::vector<std::vector<int32_t>> prompts(nseq), tables(nseq);
  for (int s = 0; s < nseq; ++s) {
    for (int i = 0; i < n; ++i) prompts[s].push_back(token(rng));
    tables[s] = block_range(s * per_seq, per_seq);
  }
  Batch whole;
  for (int s = 0; s < nseq; ++s) {
    whole.tokens.insert(whole.tokens.end(), prompts[s].begin(), prompts[s].end());
    whole.sequences.push_back({.num_tokens = n, .start_position = 0, .block_table = tables[s], .all_logits = true});
  }
  auto cache = model->make_kv_cache(nseq * per_seq, kBlockSize);
  const std::vector<float> at_once = model->forward(whole, *cache);

  auto chunked_cache = model->make_kv_cache(nseq * per_seq, kBlockSize);
  std::vector<float> chunked(at_once.size());
  for (int start = 0; start < n; start += chunk) {
    Batch b;
    for (int s = 0; s < nseq; ++s) {
      b.tokens.insert(b.tokens.end(), prompts[s].begin() + start, prompts[s].begin() + start + chunk);
      b.sequences.push_back({.num_tokens = chunk, .start_position = start, .block_table = tables[s], .all_logits = true});
    }
    const auto out = model->forward(b, *chunked_cache);
    for (int s = 0; s < nseq; ++s)
      std::copy_n(out.begin() + static_cast<std::ptrdiff_t>(s) * chunk * vocab, chunk * vocab,
                  chunked.begin() + (static_cast<std::ptrdiff_t>(s) * n + start) * vocab);
  }
  std::vector<double> errors;
  for (int p = 0; p < nseq * n; ++p)
    errors.push_back(relative_error(chunked.data() + p * vocab, at_once.data() + p * vocab, vocab));
  std::sort(errors.begin(), errors.end());
  const auto over = errors.end() - std::lower_bound(errors.begin(), errors.end(), kTolerance);
  std::printf("[ CUDA ] expert GEMM paths: median %.2e, worst %.2e, %td of %zu positions over %.0e\n",
              errors[errors.size() / 2], errors.back(), over, errors.size(), kTolerance);
  EXPECT_LT(errors[errors.size() / 2], 5e-3);
  EXPECT_LE(over, static_cast<std::ptrdiff_t>(errors.size() / 20));
}

// DeepSeek's real MLA widths (latent 512, rope key 64) take the specialised decode kernel;
// prefill and cached decode against the CPU path.
TEST(CudaModel, RealMlaWidthsAgreeWithTheCpuPath) {
  SKIP_WITHOUT_GPU();
  const RealMlaModel model("mla512", 16, 192, 64, 64, 11);
  const auto& shape = model.shape;
  const auto& gpu = model.gpu;
  const auto& cpu = model.cpu;
  std::vector<int32_t> prompt(300);
  for (int i = 0; i < 300; ++i) prompt[i] = (37 * i + 5) % shape.vocab_size;
  const int vocab = shape.vocab_size;
  const auto g = full_pass(*gpu, prompt), c = full_pass(*cpu, prompt);
  for (int i = 0; i < 300; i += 37)
    EXPECT_LT(relative_error(g.data() + i * vocab, c.data() + i * vocab, vocab), kTolerance) << "position " << i;
  std::vector<std::vector<float>> cpu_steps;
  const auto forced = cached_decode(*cpu, prompt, 8, [&](int, std::span<const float> l) {
    cpu_steps.emplace_back(l.begin(), l.end());
    return argmax(l);
  });
  cached_decode(*gpu, prompt, 8, [&](int s, std::span<const float> l) {
    EXPECT_LT(relative_error(l.data(), cpu_steps[s].data(), vocab), kTolerance) << "decode step " << s;
    return forced[s];  // follow the CPU's tokens so each step compares the same context
  });
}

// DeepSeek's own head widths (nope 128, rope 64, v 128, latent 512): a sequence's prefill chunk
// of 64 or more rows is attended in the expanded form (mla_prefill), the others absorbed. Both
// must agree with the CPU path: a whole prompt; the same prompt in two chunks, the second over
// the first's cache; and that second chunk in one step between two short sequences (three runs of
// rows: absorbed, expanded, absorbed).
TEST(CudaModel, ExpandedPrefillAgreesWithTheCpuPathInChunksAndBesideShortSequences) {
  SKIP_WITHOUT_GPU();
  const RealMlaModel model("expanded", 4, 96, 128, 128, 13);
  const auto& shape = model.shape;
  const auto& gpu = model.gpu;
  const auto& cpu = model.cpu;
  const int vocab = shape.vocab_size, n = 300, first_chunk = 100;
  std::vector<int32_t> prompt(n);
  for (int i = 0; i < n; ++i) prompt[i] = (53 * i + 11) % vocab;
  const auto c = full_pass(*cpu, prompt);
  const auto g = full_pass(*gpu, prompt);
  for (int i = 0; i < n; i += 23)
    EXPECT_LT(relative_error(g.data() + i * vocab, c.data() + i * vocab, vocab), kTolerance) << "whole prompt, position " << i;

  const std::vector<int32_t> short_a = {5, 6, 7}, short_b = {9};
  const auto c_a = full_pass(*cpu, short_a), c_b = full_pass(*cpu, short_b);
  auto cache = gpu->make_kv_cache(32, kBlockSize);
  const auto table = block_range(0, 24), table_a = block_range(24, 4), table_b = block_range(28, 4);
  Batch head{{prompt.begin(), prompt.begin() + first_chunk},
             {{.num_tokens = first_chunk, .start_position = 0, .block_table = table, .all_logits = true}}};
  const auto g_head = gpu->forward(head, *cache);
  for (int i = 0; i < first_chunk; i += 23)
    EXPECT_LT(relative_error(g_head.data() + i * vocab, c.data() + i * vocab, vocab), kTolerance) << "first chunk, position " << i;

  Batch mixed;
  mixed.tokens = short_a;
  mixed.tokens.insert(mixed.tokens.end(), prompt.begin() + first_chunk, prompt.end());
  mixed.tokens.insert(mixed.tokens.end(), short_b.begin(), short_b.end());
  const int64_t rest = n - first_chunk;
  mixed.sequences = {{.num_tokens = 3, .start_position = 0, .block_table = table_a},
                     {.num_tokens = rest, .start_position = first_chunk, .block_table = table, .all_logits = true},
                     {.num_tokens = 1, .start_position = 0, .block_table = table_b}};
  const auto g_mixed = gpu->forward(mixed, *cache);
  ASSERT_EQ(g_mixed.size(), static_cast<std::size_t>(rest + 2) * vocab);
  EXPECT_LT(relative_error(g_mixed.data(), c_a.data() + 2 * vocab, vocab), kTolerance) << "short sequence before";
  for (int i = 0; i < rest; i += 23)
    EXPECT_LT(relative_error(g_mixed.data() + (1 + i) * vocab, c.data() + (first_chunk + i) * vocab, vocab), kTolerance)
        << "second chunk, position " << first_chunk + i;
  EXPECT_LT(relative_error(g_mixed.data() + (1 + rest) * vocab, c_b.data(), vocab), kTolerance) << "short sequence after";
}

// An fp8 checkpoint at DeepSeek-V3's head widths keeps kv_b_proj in fp8: the absorbed rows read
// W_UK[h]ᵀ (made at load) and W_UV as stored through gemm_fp8_batched, the expanded prefill all of
// it through linear(), the product every fp8 projection takes. Against the CPU path on the same
// checkpoint, which widens the weights exactly, so that the difference is the GPU quantizing its
// activations: this model is nearly all attention (two dense layers, six quantized products
// each), and its logits move by about two e4m3 steps (1.15e-1 at the median on an H100). So every
// position must be within four steps; and the absorbed rows (a 40-row prompt, then decode steps of
// one row) as close as the expanded ones (a 200-row prompt): their median within 1.5 times
// theirs. A head read with another head's matrix or scale would be off by the logits' own size.
// The weights' bytes say that kv_b_proj stayed fp8.
TEST(CudaModel, Fp8KvBProjAgreesWithTheCpuPathAbsorbedAndExpanded) {
  SKIP_WITHOUT_GPU();
  const RealMlaModel model("fp8", 4, 128, 128, 128, 17, /*fp8=*/true);
  const auto& shape = model.shape;
  const int vocab = shape.vocab_size;
  std::vector<double> expanded, absorbed;
  auto compare = [&](std::vector<double>& errors, const float* gpu, const float* cpu, const std::string& where) {
    errors.push_back(relative_error(gpu, cpu, vocab));
    EXPECT_LT(errors.back(), 4 * kFp8Tolerance) << where;
  };
  std::vector<int32_t> prompt(200), short_prompt(40);
  for (int i = 0; i < 200; ++i) prompt[i] = (29 * i + 3) % vocab;
  for (int i = 0; i < 40; ++i) short_prompt[i] = (31 * i + 7) % vocab;
  const auto g = full_pass(*model.gpu, prompt), c = full_pass(*model.cpu, prompt);
  for (int i = 0; i < 200; i += 7)
    compare(expanded, g.data() + i * vocab, c.data() + i * vocab, "long prompt, position " + std::to_string(i));
  const auto gs = full_pass(*model.gpu, short_prompt), cs = full_pass(*model.cpu, short_prompt);
  for (int i = 0; i < 40; i += 3)
    compare(absorbed, gs.data() + i * vocab, cs.data() + i * vocab, "short prompt, position " + std::to_string(i));
  std::vector<std::vector<float>> cpu_steps;
  const auto forced = cached_decode(*model.cpu, short_prompt, 8, [&](int, std::span<const float> l) {
    cpu_steps.emplace_back(l.begin(), l.end());
    return argmax(l);
  });
  cached_decode(*model.gpu, short_prompt, 8, [&](int s, std::span<const float> l) {
    compare(absorbed, l.data(), cpu_steps[s].data(), "decode step " + std::to_string(s));
    return forced[s];
  });
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("[ CUDA ] fp8 kv_b_proj: median relative error %.2e expanded (%zu positions), %.2e absorbed (%zu)\n",
              median(expanded), expanded.size(), median(absorbed), absorbed.size());
  EXPECT_LT(median(absorbed), 1.5 * median(expanded));

  // Every projection and MLP fp8 at one byte a parameter and a 4-byte scale a block, kv_b_proj's
  // W_UK half held twice (as stored, and transposed); widened, two bytes a parameter.
  const auto widened = load_on(model.dir, Device::Cuda, Fp8Weights::Bf16);
  const int64_t D = shape.hidden_size, H = shape.num_heads, r = shape.kv_lora_rank, nope = shape.qk_nope_head_dim;
  double saved = 0;
  auto fp8 = [&](int64_t rows, int64_t cols) {
    const int64_t blocks = (rows + 127) / 128;
    saved += 2.0 * rows * cols - static_cast<double>(blocks * 128 * cols) - 4.0 * blocks * (cols / 128);
  };
  for (int l = 0; l < shape.num_layers; ++l) {
    fp8(shape.q_lora_rank + r + shape.qk_rope_head_dim, D);
    fp8(H * (nope + shape.qk_rope_head_dim), shape.q_lora_rank);
    fp8(H * (nope + shape.v_head_dim), r);
    saved -= H * r * nope + 4.0 * H * (r / 128) * (nope / 128);  // W_UK[h]ᵀ
    fp8(D, H * shape.v_head_dim);
    fp8(2 * shape.intermediate_size, D);
    fp8(D, shape.intermediate_size);
  }
  EXPECT_DOUBLE_EQ(static_cast<double>(widened->weight_bytes()) - static_cast<double>(model.gpu->weight_bytes()), saved);
}

// Qwen2 at the R1-Distill head width (128) with dummy weights: a prefill chunk of 64 or more
// rows goes through the flash kernel (gqa_prefill), shorter ones and decode rows each over its own
// context (gqa_decode, in a captured graph after the first steps). A prompt's logits in one chunk,
// in two chunks (the second over the first's cache, both flash), and token by token through the
// cache (gqa_decode throughout) must agree.
TEST(CudaModel, GroupedQueryFlashPrefillAgreesWithTokenByTokenDecode) {
  SKIP_WITHOUT_GPU();
  const auto dir = std::filesystem::temp_directory_path() / ("tide-cuda-gqa-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream config(dir / "config.json");
    config << R"({"model_type": "qwen2", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
                 "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 128,
                 "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
                 "tie_word_embeddings": false})";
  }
  const auto model = load_model(dir, {.device = Device::Cuda, .load_format = LoadFormat::Dummy});
  std::filesystem::remove_all(dir);
  const int vocab = model->config().vocab_size, n = 150;
  std::vector<int32_t> prompt(n);
  for (int i = 0; i < n; ++i) prompt[i] = (37 * i + 5) % vocab;
  const auto whole = full_pass(*model, prompt);

  auto cache = model->make_kv_cache(n / kBlockSize + 1, kBlockSize);
  const auto table = block_range(0, n / kBlockSize + 1);
  auto chunk = [&](int start, int rows) {
    Batch b{{prompt.begin() + start, prompt.begin() + start + rows},
            {{.num_tokens = rows, .start_position = start, .block_table = table, .all_logits = true}}};
    return model->forward(b, *cache);
  };
  const auto first = chunk(0, 80), second = chunk(80, n - 80);
  for (int i = 0; i < n; i += 13) {
    const float* split = i < 80 ? first.data() + i * vocab : second.data() + (i - 80) * vocab;
    EXPECT_LT(relative_error(split, whole.data() + i * vocab, vocab), 5e-3) << "position " << i << " in two chunks";
  }
  for (int i = 0; i < n; ++i) {
    const auto logits = chunk(i, 1);
    if (i % 13 != 0 && i != n - 1) continue;
    EXPECT_LT(relative_error(logits.data(), whole.data() + i * vocab, vocab), kTolerance) << "position " << i
                                                                                          << " token by token";
  }
}

}  // namespace
}  // namespace tide
