// Every CUDA kernel against its CPU twin, on random non-zero inputs of awkward sizes (not
// multiples of any tile or vector width, as well as the real model widths). Inputs are rounded
// to bf16 once; the reference runs the float32 CPU kernel on exactly those values. Outputs are
// poisoned with NaN before each launch, so an element the kernel did not write fails the check.
// Each case prints one line: op, case, size, relative error ‖out − ref‖ / ‖ref‖.
// Without a CUDA device every test skips (CI machines have none).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "cuda_test_support.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "model/config.h"
#include "model/cuda/router_params.h"
#include "model/deepseek/moe_router.h"
#include "model/rope.h"
#include "tensor/dtype.h"
#include "tensor/gumbel.h"
#include "tensor/paged_kv_cache.h"

namespace tide::cuda {
namespace {

// ---------------------------------------------------------------------------------------------
TEST(CudaOps, RmsNormWithResidual) {
  REQUIRE_DEVICE();
  // 2049 and 16384: rows of more pieces than a block has threads (1024), so each thread takes several.
  for (int64_t dim : {1, 7, 129, 2048, 2049, 7168, 16384})
    for (int64_t n : {1, 3, 17})
      for (int mode = 0; mode < 3; ++mode) {  // 0: plain, 1: residual, 2: plain with y aliasing x
        const std::string what = std::string(mode == 1 ? "residual" : mode == 2 ? "in-place" : "plain") +
                                 " n=" + std::to_string(n) + " dim=" + std::to_string(dim);
        auto rng = rng_for("rms_norm " + what);
        const auto x = random_bf16(n * dim, rng), w = random_bf16(dim, rng, 1.f, 0.2f);
        const auto res = random_bf16(n * dim, rng);
        const float eps = 1e-6f;

        DeviceBuffer<uint16_t> dx(x), dw(w), dres(res), dy(n * dim);
        dy.fill_bytes(0xff);
        bf16* y = mode == 2 ? as_bf16(dx) : as_bf16(dy);
        rms_norm(as_bf16(dx), mode == 1 ? as_bf16(dres) : nullptr, n, dim, as_bf16(dw), eps, y, nullptr);
        sync();

        std::vector<float> in = widen(x);
        if (mode == 1) {
          std::vector<uint16_t> summed(n * dim);
          for (std::size_t i = 0; i < summed.size(); ++i) summed[i] = f32_to_bf16(bf16_to_f32(res[i]) + in[i]);
          in = widen(summed);
          report("rms_norm", what + " (residual out)", rel_err(widen(dres.download()), in), kBf16Tolerance);
        }
        std::vector<float> ref(n * dim);
        cpu::rms_norm(in.data(), n, dim, widen(w).data(), eps, ref.data());
        report("rms_norm", what, rel_err(widen(mode == 2 ? dx.download() : dy.download()), ref), kBf16Tolerance);
      }
}

// ---------------------------------------------------------------------------------------------
ModelConfig deepseek_yarn_config() {
  ModelConfig c;
  c.model_type = "deepseek_v2";
  c.family = ModelFamily::DeepSeek;
  c.rope_theta = 10000.0;
  c.rope_interleaved = true;
  c.rope_scaling.type = RopeScaling::Type::Yarn;
  c.rope_scaling.factor = 40.0;
  c.rope_scaling.original_max_position_embeddings = 4096;
  c.rope_scaling.beta_fast = 32.0;
  c.rope_scaling.beta_slow = 1.0;
  c.rope_scaling.mscale = 1.0;  // differs from mscale_all_dim, so the magnitude is not 1
  c.rope_scaling.mscale_all_dim = 0.707;
  return c;
}

ModelConfig llama_config() {
  ModelConfig c;
  c.model_type = "llama";
  c.family = ModelFamily::Llama;
  c.rope_theta = 500000.0;
  c.rope_interleaved = false;
  return c;
}

struct RopeCase {
  const char* name;
  bool deepseek;
  int64_t tokens;
  int heads;
  int64_t head_stride;
  int64_t token_stride;
  int rope_offset;
  int rope_dim;
};

TEST(CudaOps, Rope) {
  REQUIRE_DEVICE();
  const RopeCase cases[] = {
      {"mla q (interleaved)", true, 7, 16, 192, 16 * 192, 128, 64},
      {"mla q 128 heads", true, 3, 128, 192, 128 * 192, 128, 64},
      {"mla cache entry", true, 5, 1, 576, 576, 512, 64},
      {"mla single token", true, 1, 1, 576, 576, 512, 64},
      {"llama q (neox)", false, 3, 5, 128, 5 * 128, 0, 128},
      {"neox odd heads, padded rows", false, 9, 3, 72, 3 * 72 + 8, 2, 66},
  };
  constexpr int64_t kPositions = 5000;
  for (const RopeCase& rc : cases) {
    const ModelConfig config = rc.deepseek ? deepseek_yarn_config() : llama_config();
    const RotaryEmbedding rope(config, rc.rope_dim);
    const int half = rc.rope_dim / 2;
    std::vector<float> cos(kPositions * half), sin(kPositions * half);
    for (int64_t p = 0; p < kPositions; ++p) rope.cos_sin(p, cos.data() + p * half, sin.data() + p * half);

    auto rng = rng_for(std::string("rope ") + rc.name);
    const int64_t size = rc.tokens * rc.token_stride;
    const auto x = random_bf16(size, rng);
    std::vector<int32_t> positions(rc.tokens);
    std::uniform_int_distribution<int32_t> pos_dist(0, kPositions - 1);
    for (auto& p : positions) p = pos_dist(rng);
    positions[0] = kPositions - 1;

    DeviceBuffer<uint16_t> dx(x);
    DeviceBuffer<int32_t> dpos(positions);
    DeviceBuffer<float> dcos(cos), dsin(sin);
    apply_rope({.x = as_bf16(dx), .tokens = rc.tokens, .token_stride = rc.token_stride, .heads = rc.heads,
                .head_stride = rc.head_stride, .rope_offset = rc.rope_offset, .rope_dim = rc.rope_dim,
                .positions = dpos.data(), .cos = dcos.data(), .sin = dsin.data(), .interleaved = rope.interleaved()},
               nullptr);
    sync();

    // The reference rotates the same slices; everything else must come back unchanged.
    std::vector<float> ref = widen(x);
    for (int64_t t = 0; t < rc.tokens; ++t)
      for (int h = 0; h < rc.heads; ++h)
        cpu::apply_rope(ref.data() + t * rc.token_stride + h * rc.head_stride + rc.rope_offset, rc.rope_dim,
                        cos.data() + positions[t] * half, sin.data() + positions[t] * half, rope.interleaved());
    const std::string what = std::string(rc.name) + " T=" + std::to_string(rc.tokens) + " H=" +
                             std::to_string(rc.heads) + " d=" + std::to_string(rc.rope_dim);
    report("rope", what, rel_err(widen(dx.download()), ref), kBf16Tolerance);
  }
}

// ---------------------------------------------------------------------------------------------
TEST(CudaOps, SiluMul) {
  REQUIRE_DEVICE();
  // The last two: more work than the grid's one pass (2112 blocks of 256), scalar and vector.
  for (auto [inter, counts] : {std::pair{int64_t{1}, std::vector<int64_t>{1, 3, 17}}, {7, {1, 3, 17}},
                               {1408, {1, 3, 17}}, {18432 / 8 + 8, {1, 3, 17}}, {7013, {80}}, {18432, {300}}})
    for (int64_t n : counts) {
      const std::string what = "n=" + std::to_string(n) + " inter=" + std::to_string(inter);
      auto rng = rng_for("silu_mul " + what);
      const auto gate_up = random_bf16(n * 2 * inter, rng, 0.f, 2.f);
      DeviceBuffer<uint16_t> dgu(gate_up), dout(n * inter);
      dout.fill_bytes(0xff);
      silu_mul(as_bf16(dgu), n, inter, as_bf16(dout), nullptr);
      sync();
      const std::vector<float> gu = widen(gate_up);
      std::vector<float> ref(n * inter);
      for (int64_t i = 0; i < n; ++i)
        cpu::silu_mul(gu.data() + i * 2 * inter, gu.data() + i * 2 * inter + inter, inter, ref.data() + i * inter);
      report("silu_mul", what, rel_err(widen(dout.download()), ref), kBf16Tolerance);
    }
}

// ---------------------------------------------------------------------------------------------
// The dummy weights of --load-format dummy: every element bit for bit as the CPU computes it
// from splitmix64 of (seed, index), bf16 and e4m3, on sizes from one element to more than the
// grid covers in one pass (65536 blocks of 256), so that it depends on the seed alone.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

TEST(CudaOps, FillUniformIsSplitmixOfTheSeedAndIndex) {
  REQUIRE_DEVICE();
  for (const std::size_t n : {std::size_t{1}, std::size_t{255}, std::size_t{70001}, std::size_t{65536} * 256 + 3}) {
    for (const uint64_t seed : {uint64_t{0}, uint64_t{100} + n}) {
      const std::string what = "n=" + std::to_string(n) + " seed=" + std::to_string(seed);
      constexpr float bound = 0.02f;
      DeviceBuffer<uint16_t> x(n);
      DeviceBuffer<uint8_t> q(n);
      x.fill_bytes(0xff);
      q.fill_bytes(0xff);
      fill_uniform(as_bf16(x), n, seed, bound, nullptr);
      fill_uniform_e4m3(q.data(), n, seed, nullptr);
      sync();
      const auto got_x = x.download();
      const auto got_q = q.download();
      const uint64_t key = splitmix64(seed);
      std::size_t wrong_x = 0, wrong_q = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const float unit = static_cast<float>(splitmix64(key ^ i) >> 40) * (2.f / 16777216.f) - 1.f;
        wrong_x += got_x[i] != f32_to_bf16(unit * bound);
        wrong_q += got_q[i] != f32_to_fp8_e4m3(unit * 448.f);
      }
      EXPECT_EQ(wrong_x, 0u) << what << ": bf16 elements unlike the CPU's";
      EXPECT_EQ(wrong_q, 0u) << what << ": e4m3 elements unlike the CPU's";
    }
  }
}

TEST(CudaOps, AddBiasRowsAddsTheBiasToEveryRow) {
  REQUIRE_DEVICE();
  for (int64_t dim : {1, 37, 3584 + 2 * 512})
    for (int64_t n : {1, 5, 130}) {
      const std::string what = "n=" + std::to_string(n) + " dim=" + std::to_string(dim);
      auto rng = rng_for("add_bias_rows " + what);
      const auto y = random_bf16(n * dim, rng);
      std::vector<float> bias(dim);
      std::uniform_real_distribution<float> dist(-1.f, 1.f);
      for (float& b : bias) b = dist(rng);
      DeviceBuffer<uint16_t> dy(y);
      DeviceBuffer<float> dbias(bias);
      add_bias_rows(as_bf16(dy), n, dim, dbias.data(), nullptr);
      sync();
      std::vector<float> ref = widen(y);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < dim; ++j) ref[i * dim + j] += bias[j];
      report("add_bias_rows", what, rel_err(widen(dy.download()), ref), kBf16Tolerance);
    }
}

// ---------------------------------------------------------------------------------------------
TEST(CudaOps, ArgmaxMatchesGreedySampler) {
  REQUIRE_DEVICE();
  for (int64_t vocab : {1, 5, 1023, 129280, 129281})
    for (int64_t rows : {1, 3, 8}) {
      const std::string what = "rows=" + std::to_string(rows) + " vocab=" + std::to_string(vocab);
      auto rng = rng_for("argmax " + what);
      std::normal_distribution<float> dist(0.f, 3.f);
      std::vector<float> logits(rows * vocab);
      for (float& l : logits) l = dist(rng);
      std::uniform_int_distribution<int64_t> at(0, vocab - 1);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = logits.data() + r * vocab;
        if (r % 3 == 1) {  // a planted tie: the lower index must win
          const int64_t i = at(rng), j = at(rng);
          row[i] = row[j] = 100.f;
        } else if (r % 3 == 2) {  // a constant row: index 0
          std::fill(row, row + vocab, -7.25f);
        }
      }
      DeviceBuffer<float> dl(logits);
      DeviceBuffer<int32_t> dout(rows);
      dout.fill_bytes(0xff);
      argmax_rows(dl.data(), rows, vocab, dout.data(), nullptr);
      sync();
      const auto out = dout.download();
      int mismatches = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = logits.data() + r * vocab;
        const int32_t expected = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
        if (out[r] != expected) ++mismatches;
        EXPECT_EQ(out[r], expected) << what << " row " << r;
      }
      report("argmax", what + " mismatched rows " + std::to_string(mismatches), mismatches, 0);
    }
}

// Sampled rows: argmax of fmaf(logit, 1 / t, gumbel_noise(seed, i)) over the finite logits, the
// reference computed here with the same formula (the host's logf may round a near-tie apart, so
// one row in 64 may differ); -inf and NaN logits are never drawn; t = 0 rows stay greedy.
TEST(CudaOps, SampleRowsDrawsTheGumbelMaximum) {
  REQUIRE_DEVICE();
  for (int64_t vocab : {2, 1023, 129281}) {
    constexpr int64_t kRows = 64;
    const std::string what = "rows=64 vocab=" + std::to_string(vocab);
    auto rng = rng_for("sample_rows " + what);
    std::normal_distribution<float> dist(0.f, 2.f);
    std::vector<float> logits(kRows * vocab), temperatures(kRows);
    std::vector<uint64_t> seeds(kRows);
    for (float& l : logits) l = dist(rng);
    for (int64_t r = 0; r < kRows; ++r) {
      temperatures[r] = r % 5 == 0 ? 0.f : 0.3f * static_cast<float>(r % 5);
      seeds[r] = rng();
      logits[r * vocab] = r % 2 ? -INFINITY : NAN;  // never drawn at t > 0
    }
    DeviceBuffer<float> dl(logits), dt(temperatures);
    DeviceBuffer<uint64_t> ds(seeds);
    DeviceBuffer<int32_t> dout(kRows);
    dout.fill_bytes(0xff);
    sample_rows(dl.data(), kRows, vocab, dt.data(), ds.data(), dout.data(), nullptr);
    sync();
    const auto out = dout.download();
    int mismatches = 0;
    for (int64_t r = 0; r < kRows; ++r) {
      const float* row = logits.data() + r * vocab;
      int32_t expected = 0;
      if (temperatures[r] == 0.f) {
        // Greedy over a row led by NaN or -inf: the first maximum of the rest, as the kernel's
        // comparisons never take a NaN.
        expected = static_cast<int32_t>(std::max_element(row + 1, row + vocab) - row);
      } else {
        float best = -INFINITY;
        for (int64_t i = 0; i < vocab; ++i) {
          if (!std::isfinite(row[i])) continue;
          const float v = std::fmaf(row[i], 1.f / temperatures[r], gumbel_noise(seeds[r], i));
          if (v > best) {
            best = v;
            expected = static_cast<int32_t>(i);
          }
        }
        EXPECT_NE(out[r], 0) << what << " row " << r << ": a non-finite logit was drawn";
      }
      mismatches += out[r] != expected;
    }
    report("sample", what + " mismatched rows " + std::to_string(mismatches), mismatches, 1);
  }
}

// ---------------------------------------------------------------------------------------------
struct RouterCase {
  const char* name;
  const char* model_type;
  const char* scoring;
  const char* method;
  int experts, top_k, n_group, topk_group;
  bool norm;
  double factor;
  bool bias;
};

const RouterCase kRouterCases[] = {
    {"V2-Lite softmax greedy", "deepseek_v2", "softmax", "greedy", 64, 6, 1, 1, false, 1.0, false},
    {"V2 group_limited_greedy", "deepseek_v2", "softmax", "group_limited_greedy", 160, 6, 8, 3, false, 16.0, false},
    {"V2 group_limited normalised", "deepseek_v2", "softmax", "group_limited_greedy", 160, 6, 8, 3, true, 16.0, false},
    {"V3 sigmoid noaux_tc bias", "deepseek_v3", "sigmoid", "noaux_tc", 256, 8, 8, 4, true, 2.5, true},
    {"V3 noaux_tc no bias", "deepseek_v3", "sigmoid", "noaux_tc", 256, 8, 8, 4, true, 2.5, false},
    {"sigmoid greedy 72 experts", "deepseek_v3", "sigmoid", "greedy", 72, 5, 1, 1, true, 1.5, true},
    {"noaux_tc one expert a group", "deepseek_v3", "sigmoid", "noaux_tc", 8, 2, 8, 4, false, 1.0, true},
    {"softmax top-1", "deepseek_v2", "softmax", "greedy", 33, 1, 1, 1, true, 1.0, false},
};

ModelConfig router_config(const RouterCase& rc) {
  ModelConfig c;
  c.model_type = rc.model_type;
  c.scoring_func = rc.scoring;
  c.topk_method = rc.method;
  c.n_routed_experts = rc.experts;
  c.num_experts_per_tok = rc.top_k;
  c.n_group = rc.n_group;
  c.topk_group = rc.topk_group;
  c.norm_topk_prob = rc.norm;
  c.routed_scaling_factor = rc.factor;
  return c;
}

std::vector<float> router_bias(const RouterCase& rc, std::mt19937& rng) {
  std::vector<float> bias(rc.bias ? rc.experts : 0);
  std::normal_distribution<float> bias_dist(0.f, 0.1f);
  for (float& b : bias) b = bias_dist(rng);
  return bias;
}

// The device's ids and weights for each token against route_token (the CPU router) on the same logits.
void expect_cpu_routes(const RouterCase& rc, const std::vector<float>& logits, int64_t tokens,
                       const std::vector<float>& bias, const std::vector<int32_t>& ids,
                       const std::vector<float>& weights, const std::string& op, const std::string& what) {
  const ModelConfig c = router_config(rc);
  int id_mismatches = 0;
  double max_weight_err = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const auto ref = route_token(std::span<const float>(logits.data() + t * rc.experts, rc.experts), bias, c);
    ASSERT_EQ(ref.size(), static_cast<std::size_t>(rc.top_k));
    for (int k = 0; k < rc.top_k; ++k) {
      if (ids[t * rc.top_k + k] != ref[k].expert) ++id_mismatches;
      const float w = weights[t * rc.top_k + k];
      const double err =
          std::isfinite(w) ? std::abs(w - ref[k].weight) / std::max(1.f, std::abs(ref[k].weight)) : INFINITY;
      max_weight_err = std::max(max_weight_err, err);
    }
  }
  EXPECT_EQ(id_mismatches, 0) << what;
  std::printf("[ CUDA ] %-10s %-44s id mismatches %d, max weight err %.3e  %s\n", op.c_str(), what.c_str(),
              id_mismatches, max_weight_err, id_mismatches == 0 && max_weight_err <= 1e-5 ? "ok" : "FAIL");
  EXPECT_LE(max_weight_err, 1e-5) << what;
}

TEST(CudaOps, MoeRoutingMatchesCpuRouter) {
  REQUIRE_DEVICE();
  for (const RouterCase& rc : kRouterCases)
    for (int64_t tokens : {1, 5, 37, 130}) {
      const std::string what = std::string(rc.name) + " T=" + std::to_string(tokens);
      auto rng = rng_for("router " + what);
      std::normal_distribution<float> dist(0.f, 2.f);
      std::vector<float> logits(tokens * rc.experts);
      for (float& l : logits) l = dist(rng);
      const auto bias = router_bias(rc, rng);

      DeviceBuffer<float> dl(logits), dbias(bias), dw(tokens * rc.top_k);
      DeviceBuffer<int32_t> dids(tokens * rc.top_k);
      dw.fill_bytes(0xff);
      dids.fill_bytes(0xff);
      route_experts(dl.data(), tokens, rc.bias ? dbias.data() : nullptr, router_params(router_config(rc)),
                    dids.data(), dw.data(), nullptr);
      sync();
      expect_cpu_routes(rc, logits, tokens, bias, dids.download(), dw.download(), "moe_route", what);
    }
}

// The router's GEMV and the routing in one launch: its logits against the CPU's product, its
// routes against the CPU router on those logits. Each case runs twice on one counter, so the
// second launch shows that the first left it ready.
TEST(CudaOps, RouterGemvAndRoutingInOneLaunchMatchTheCpu) {
  REQUIRE_DEVICE();
  DeviceBuffer<unsigned> done(std::vector<unsigned>{0});
  for (const RouterCase& rc : kRouterCases)
    for (int64_t tokens = 1; tokens <= kGemvMaxRows; ++tokens)
      for (int64_t hidden : {64, 2056}) {
        const std::string what = std::string(rc.name) + " T=" + std::to_string(tokens) + " hidden=" +
                                 std::to_string(hidden);
        auto rng = rng_for("router gemv " + what);
        const auto bias = router_bias(rc, rng);
        const auto router = random_bf16(rc.experts * hidden, rng, 0.f, 2.f / std::sqrt(float(hidden)));
        DeviceBuffer<uint16_t> drouter(router);
        DeviceBuffer<float> dbias(bias), dlogits(tokens * rc.experts), dw(tokens * rc.top_k);
        DeviceBuffer<int32_t> dids(tokens * rc.top_k);
        for (int round = 0; round < 2; ++round) {
          const auto h = random_bf16(tokens * hidden, rng);
          DeviceBuffer<uint16_t> dh(h);
          dlogits.fill_bytes(0xff);
          dw.fill_bytes(0xff);
          dids.fill_bytes(0xff);
          route_experts_gemv({.x = as_bf16(dh)}, tokens, as_bf16(drouter), hidden, rc.bias ? dbias.data() : nullptr,
                             router_params(router_config(rc)), dlogits.data(), done.data(), dids.data(), dw.data(),
                             nullptr);
          sync();
          const auto logits = dlogits.download();
          report("router_gemv", what, rel_err(logits, matmul_ref(widen(h), tokens, widen(router), rc.experts, hidden)),
                 1e-4);
          expect_cpu_routes(rc, logits, tokens, bias, dids.download(), dw.download(), "route_gemv",
                            what + " round " + std::to_string(round));
        }
        EXPECT_EQ(done.download()[0], 0u) << what;
      }
}

// ---------------------------------------------------------------------------------------------
struct MlaCase {
  const char* name;
  int heads;
  int block_size;
  std::vector<int> context_lens;
};

TEST(CudaOps, MlaDecodeOverPagedLatentCache) {
  REQUIRE_DEVICE();
  const MlaCase cases[] = {
      {"one token", 16, 64, {1}},
      {"V2-Lite mixed lengths", 16, 16, {33, 100, 1}},
      {"20 heads (padded head tile)", 20, 64, {700, 64, 65, 5}},
      {"block size 1", 16, 1, {40, 17, 3, 96, 1}},
      {"V3 128 heads", 128, 64, {2049, 300}},
      {"long contexts", 16, 64, {8192, 5000, 31}},
      {"4 heads, odd block size", 4, 7, {250, 77}},
  };
  constexpr int E = kMlaEntryDim, R = kMlaLatentDim;
  const int sms = sm_count();
  for (const MlaCase& mc : cases) {
    const int batch = static_cast<int>(mc.context_lens.size()), H = mc.heads, bs = mc.block_size;
    const int max_ctx = *std::max_element(mc.context_lens.begin(), mc.context_lens.end());
    auto rng = rng_for(std::string("mla ") + mc.name);

    // Physical blocks in shuffled order, a few spare ones poisoned with NaN: reading any block
    // outside a sequence's table makes its output NaN.
    int used = 0;
    for (int ctx : mc.context_lens) used += (ctx + bs - 1) / bs;
    const int num_blocks = used + 3;
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    const int stride = (max_ctx + bs - 1) / bs + 2;
    std::vector<int32_t> tables(static_cast<std::size_t>(batch) * stride, 1 << 30);  // unused: far out of range
    int next = 0;
    for (int b = 0; b < batch; ++b)
      for (int i = 0; i < (mc.context_lens[b] + bs - 1) / bs; ++i) tables[b * stride + i] = physical[next++];

    auto cache = random_bf16(static_cast<std::size_t>(num_blocks) * bs * E, rng);
    for (int i = next; i < num_blocks; ++i)
      std::fill_n(cache.begin() + static_cast<std::ptrdiff_t>(physical[i]) * bs * E, bs * E, uint16_t{0xffff});
    // Positions of the last block past the context hold NaN too.
    for (int b = 0; b < batch; ++b) {
      const int ctx = mc.context_lens[b];
      for (int pos = ctx; pos < (ctx + bs - 1) / bs * bs; ++pos)
        std::fill_n(cache.begin() + (static_cast<std::ptrdiff_t>(tables[b * stride + pos / bs]) * bs + pos % bs) * E, E,
                    uint16_t{0xffff});
    }
    const auto q = random_bf16(static_cast<std::size_t>(batch) * H * E, rng);
    const float scale = 1.f / std::sqrt(192.f);

    // CPU twin: the float cache (same layout) and attention as MlaAttention::attend_latent calls it.
    PagedKvCache host_cache(1, num_blocks, bs, E);
    for (int blk = 0; blk < num_blocks; ++blk)
      for (int j = 0; j < bs; ++j) {
        const int32_t table[1] = {blk};
        float* slot = host_cache.slot(0, table, j);
        for (int d = 0; d < E; ++d) slot[d] = bf16_to_f32(cache[(static_cast<std::size_t>(blk) * bs + j) * E + d]);
      }
    const std::vector<float> qf = widen(q);
    std::vector<float> ref(static_cast<std::size_t>(batch) * H * R);
    for (int b = 0; b < batch; ++b) {
      const int ctx = mc.context_lens[b];
      std::vector<float> gathered(static_cast<std::size_t>(ctx) * E);
      host_cache.gather(0, std::span<const int32_t>(tables.data() + b * stride, stride), ctx, gathered.data());
      cpu::attention({.q = qf.data() + static_cast<std::size_t>(b) * H * E, .k = gathered.data(), .v = gathered.data(),
                      .out = ref.data() + static_cast<std::size_t>(b) * H * R, .q_tokens = 1, .q_start = ctx - 1,
                      .ctx_len = ctx, .num_heads = H, .num_kv_heads = 1, .qk_dim = E, .v_dim = R, .k_stride = E,
                      .v_stride = E, .scale = scale});
    }

    DeviceBuffer<uint16_t> dq(q), dcache(cache), dout(static_cast<std::size_t>(batch) * H * R);
    DeviceBuffer<int32_t> dtables(tables), dlens(mc.context_lens);
    MlaDecodeArgs args{.q = as_bf16(dq), .cache = as_bf16(dcache), .block_tables = dtables.data(),
                       .block_table_stride = stride, .context_lens = dlens.data(), .batch = batch, .heads = H,
                       .block_size = bs, .max_context = max_ctx, .scale = scale, .out = as_bf16(dout)};
    const int tiles = (max_ctx + 31) / 32;
    const MlaDecodePlan plans[] = {plan_mla_decode(args, sms), {1, tiles * 32}, {tiles, 32}};
    const char* plan_names[] = {"planned", "one chunk", "32-token chunks"};
    for (int pi = 0; pi < 3; ++pi) {
      const MlaDecodePlan& plan = plans[pi];
      DeviceBuffer<unsigned char> workspace(mla_decode_workspace_bytes(args, plan));
      workspace.fill_bytes(0xff);
      dout.fill_bytes(0xff);
      mla_decode(args, plan, workspace.data(), workspace.bytes(), nullptr);
      sync();
      std::string lens;
      for (int ctx : mc.context_lens) {
        if (!lens.empty()) lens += ',';
        lens += std::to_string(ctx);
      }
      const std::string what = std::string(mc.name) + " H=" + std::to_string(H) + " bs=" + std::to_string(bs) +
                               " ctx=" + lens + " " + plan_names[pi] + " (" + std::to_string(plan.splits) + "x" +
                               std::to_string(plan.chunk) + ")";
      report("mla_decode", what, rel_err(widen(dout.download()), ref), kBf16Tolerance);
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST(CudaOps, GemmMatchesCpuMatmul) {
  REQUIRE_DEVICE();
  Gemm gemm;
  const std::pair<int64_t, int64_t> shapes[] = {{64, 48}, {2048, 1408}, {7168, 576}, {136, 1000}};
  for (const auto& [in, out] : shapes)
    for (int64_t n : {1, 3, 17, 130}) {
      const std::string what = "n=" + std::to_string(n) + " in=" + std::to_string(in) + " out=" + std::to_string(out);
      auto rng = rng_for("gemm " + what);
      const auto x = random_bf16(n * in, rng), w = random_bf16(out * in, rng, 0.f, 0.05f);
      DeviceBuffer<uint16_t> dx(x), dw(w), dy(n * out);
      dy.fill_bytes(0xff);
      gemm.bf16_nt(as_bf16(dx), n, as_bf16(dw), out, in, as_bf16(dy), nullptr);
      sync();
      // bf16 widens to f32 exactly: the same reference as cpu::matmul on the bf16 matrix.
      const auto ref = matmul_ref(widen(x), n, widen(w), out, in);
      report("gemm", what, rel_err(widen(dy.download()), ref), kBf16Tolerance);
    }
}

}  // namespace
}  // namespace tide::cuda
