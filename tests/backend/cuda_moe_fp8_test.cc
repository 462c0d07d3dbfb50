// moe_grouped_gemm_fp8 and gemm_fp8_blocks against their CPU twin: cpu::matmul over each expert's
// rows (or every row) on the fp8 operands dequantized as DeepSeek-V3 defines them (activations
// x = q · scale per 1×128 block, weights W = w · weight_scale_inv per 128×128 block). And the fp8
// GEMV of decode (gemv_fp8), which quantizes its activations as it reads them, against
// cpu::matmul on the activations as quantize_fp8_blocks quantizes them and the dequantized weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "cuda_test_support.h"

namespace tide::cuda {
namespace {

TEST(CudaMoeFp8, GroupedGemmMatchesEachExpertsRowsOnTheDequantizedOperands) {
  REQUIRE_DEVICE();
  // Experts without rows, part of an m16 tile, exactly one 64-row pass, one row past it, three passes.
  const std::vector<int32_t> counts = {3, 0, 1, 33, 7, 64, 65, 130};
  // Widths: a partial last weight-scale row (130), one k block, V2-Lite's expert shapes (2816 =
  // 2 × 1408 features, 1408 = 11 blocks deep) and V3's.
  for (auto [out, in] : {std::pair<int64_t, int64_t>{130, 128}, {256, 384}, {2816, 2048}, {2048, 1408},
                         {4096, 7168}, {7168, 2048}}) {
    const std::string what = "out=" + std::to_string(out) + " in=" + std::to_string(in);
    auto rng = rng_for("moe_grouped_gemm_fp8 " + what);
    int64_t total = 0;
    const std::vector<int32_t> offsets = expert_offsets(counts, total);
    // The activations quantized on the GPU, as the model does; their rows read in a shuffled
    // order through x_rows (the tokens through permuted_token).
    const auto x = random_bf16(total * in, rng);
    DeviceBuffer<uint16_t> dx(x);
    DeviceBuffer<uint8_t> dq(total * in);
    DeviceBuffer<float> dqs(total * in / 128);
    quantize_fp8_blocks(as_bf16(dx), total, in, dq.data(), dqs.data(), total, nullptr);
    std::vector<int32_t> x_rows(total);
    std::iota(x_rows.begin(), x_rows.end(), 0);
    std::shuffle(x_rows.begin(), x_rows.end(), rng);

    std::vector<Fp8Weights> w;
    std::vector<DeviceBuffer<uint8_t>> dw;
    std::vector<DeviceBuffer<float>> dws;
    std::vector<const uint8_t*> pointers;
    std::vector<const float*> scale_pointers;
    const float unit = 1.f / (16.f * std::sqrt(static_cast<float>(in)));  // e4m3 values reach 448
    for (std::size_t e = 0; e < counts.size(); ++e) {
      w.push_back(random_fp8_weights(out, in, rng, 0.5f * unit, 2.f * unit));
      dw.emplace_back(w.back().q);
      dws.emplace_back(w.back().scales);
      pointers.push_back(dw.back().data());
      scale_pointers.push_back(dws.back().data());
    }
    // One row more than the experts': it must stay as it was.
    DeviceBuffer<uint16_t> dy((total + 1) * out);
    DeviceBuffer<int32_t> doffsets(offsets), dcounts(counts), dx_rows(x_rows);
    DeviceBuffer<const uint8_t*> dpointers(pointers);
    DeviceBuffer<const float*> dscale_pointers(scale_pointers);
    dy.fill_bytes(0xff);
    moe_grouped_gemm_fp8(dq.data(), dqs.data(), total, dx_rows.data(), doffsets.data(), dcounts.data(),
                         static_cast<int>(counts.size()), dpointers.data(), dscale_pointers.data(), out, in,
                         as_bf16(dy), nullptr);
    sync();

    const auto xd = dequantize_rows(dq.download(), dqs.download(), total, in);
    std::vector<float> ref;
    for (std::size_t e = 0; e < counts.size(); ++e) {
      std::vector<float> rows;
      for (int64_t r = offsets[e]; r < offsets[e] + counts[e]; ++r)
        rows.insert(rows.end(), xd.begin() + x_rows[r] * in, xd.begin() + (x_rows[r] + 1) * in);
      const auto y = matmul_ref(rows, counts[e], w[e].dequantized, out, in);
      ref.insert(ref.end(), y.begin(), y.end());
    }
    const auto y = expect_untouched_past(dy.download(), total * out, what);
    // The operands are exactly representable, so only the fp32 sums and the bf16 output round.
    report("moe_ggemm_fp8", what, rel_err(widen(y), ref), kBf16Tolerance);

    // As DeepSeek-V3's steps call it: gate_up reads each token's row once per choice (x_rows
    // repeat, over fewer rows quantized than the experts' rows: the scale stride is the tokens),
    // and down reads the activations in place (x_rows null).
    const int64_t tokens = std::max<int64_t>(1, total / 3);
    std::vector<int32_t> token_rows(total);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(tokens - 1));
    for (auto& r : token_rows) r = pick(rng);
    DeviceBuffer<uint8_t> dq_tokens(tokens * in);
    DeviceBuffer<float> dqs_tokens(tokens * in / 128);
    quantize_fp8_blocks(as_bf16(dx), tokens, in, dq_tokens.data(), dqs_tokens.data(), tokens, nullptr);
    DeviceBuffer<int32_t> dtoken_rows(token_rows);
    const auto xd_tokens = dequantize_rows(dq_tokens.download(), dqs_tokens.download(), tokens, in);
    for (const bool repeated : {true, false}) {
      dy.fill_bytes(0xff);
      if (repeated)
        moe_grouped_gemm_fp8(dq_tokens.data(), dqs_tokens.data(), tokens, dtoken_rows.data(), doffsets.data(),
                             dcounts.data(), static_cast<int>(counts.size()), dpointers.data(), dscale_pointers.data(),
                             out, in, as_bf16(dy), nullptr);
      else
        moe_grouped_gemm_fp8(dq.data(), dqs.data(), total, nullptr, doffsets.data(), dcounts.data(),
                             static_cast<int>(counts.size()), dpointers.data(), dscale_pointers.data(), out, in,
                             as_bf16(dy), nullptr);
      sync();
      std::vector<float> want;
      for (std::size_t e = 0; e < counts.size(); ++e) {
        std::vector<float> rows;
        for (int64_t r = offsets[e]; r < offsets[e] + counts[e]; ++r) {
          const auto& from = repeated ? xd_tokens : xd;
          const int64_t source = repeated ? token_rows[r] : r;
          rows.insert(rows.end(), from.begin() + source * in, from.begin() + (source + 1) * in);
        }
        const auto product = matmul_ref(rows, counts[e], w[e].dequantized, out, in);
        want.insert(want.end(), product.begin(), product.end());
      }
      const std::string form = what + (repeated ? " tokens repeated (gate_up)" : " rows in place (down)");
      const auto got = expect_untouched_past(dy.download(), total * out, form);
      report("moe_ggemm_fp8", form, rel_err(widen(got), want), kBf16Tolerance);
    }
  }
}

// The dense entry (V3's projections): every row against the one matrix, for row counts that
// end a 64-row group early, fill one, or spill one row past several; widths of V3's stacked
// q_a/kv_a (2112 = 16.5 scale rows), q_b and o_proj scaled down, a partial scale row, and the
// shallow depths (128 to 384) of small models, which cuBLASLt's block-scaled kernels get wrong.
TEST(CudaMoeFp8, DenseGemmMatchesCpuMatmulOnTheDequantizedOperands) {
  REQUIRE_DEVICE();
  for (int64_t rows : {1, 2, 63, 64, 65, 257})
    for (auto [out, in] : {std::pair<int64_t, int64_t>{2112, 1024}, {130, 128}, {1536, 512}, {512, 1024}, {384, 256},
                           {256, 128}, {256, 384}}) {
      const std::string what = "rows=" + std::to_string(rows) + " out=" + std::to_string(out) + " in=" + std::to_string(in);
      auto rng = rng_for("gemm_fp8_blocks " + what);
      const auto x = random_bf16(rows * in, rng);
      DeviceBuffer<uint16_t> dx(x);
      DeviceBuffer<uint8_t> dq(rows * in);
      DeviceBuffer<float> dqs(rows * in / 128);
      quantize_fp8_blocks(as_bf16(dx), rows, in, dq.data(), dqs.data(), rows, nullptr);
      const float unit = 1.f / (16.f * std::sqrt(static_cast<float>(in)));
      const Fp8Weights w = random_fp8_weights(out, in, rng, 0.5f * unit, 2.f * unit);
      DeviceBuffer<uint8_t> dw(w.q);
      DeviceBuffer<float> dws(w.scales);
      DeviceBuffer<uint16_t> dy((rows + 1) * out);  // one row more: it must stay as it was
      dy.fill_bytes(0xff);
      gemm_fp8_blocks(dq.data(), dqs.data(), rows, dw.data(), dws.data(), out, in, as_bf16(dy), nullptr);
      sync();
      const auto ref = matmul_ref(dequantize_rows(dq.download(), dqs.download(), rows, in), rows, w.dequantized, out, in);
      const auto y = expect_untouched_past(dy.download(), rows * out, what);
      report("gemm_fp8_blocks", what, rel_err(widen(y), ref), kBf16Tolerance);
    }
}

TEST(CudaMoeFp8, RefusesShapesItCannotRun) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint8_t> q(128 * 130);
  DeviceBuffer<float> s(2);
  DeviceBuffer<int32_t> zero(std::vector<int32_t>{0});
  DeviceBuffer<const uint8_t*> w(std::vector<const uint8_t*>{q.data()});
  DeviceBuffer<const float*> ws(std::vector<const float*>{s.data()});
  DeviceBuffer<uint16_t> y(128);
  // k not a multiple of the 128-wide scale blocks; n odd.
  EXPECT_THROW(moe_grouped_gemm_fp8(q.data(), s.data(), 1, nullptr, zero.data(), zero.data(), 1, w.data(), ws.data(), 2,
                                    130, as_bf16(y), nullptr),
               Error);
  EXPECT_THROW(moe_grouped_gemm_fp8(q.data(), s.data(), 1, nullptr, zero.data(), zero.data(), 1, w.data(), ws.data(), 3,
                                    128, as_bf16(y), nullptr),
               Error);
  EXPECT_THROW(gemm_fp8_blocks(q.data(), s.data(), 1, q.data(), s.data(), 2, 130, as_bf16(y), nullptr), Error);
  EXPECT_THROW(gemm_fp8_blocks(q.data(), s.data(), 1, q.data(), s.data(), 3, 128, as_bf16(y), nullptr), Error);
  EXPECT_THROW(gemm_fp8_blocks(q.data(), s.data(), 1, nullptr, s.data(), 2, 128, as_bf16(y), nullptr), Error);
}

// Widths: one scale block, a partial last scale row and a last GEMV block of fewer features
// (130), V3's q_a + kv_a padded to whole blocks (2176 × 7168) and o_proj's depth (16384). Rows as
// stored and normalised as read (the reference quantizes the rows rms_norm stores). The
// quantized activations are the same values on both sides, so only the sums' order differs.
TEST(CudaFp8Gemv, MatchesCpuMatmulOnTheQuantizedActivationsAndDequantizedWeights) {
  REQUIRE_DEVICE();
  for (auto [out, in] : {std::pair<int64_t, int64_t>{1, 128}, {130, 256}, {2176, 7168}, {300, 16384}})
    for (int64_t n = 1; n <= kGemvMaxRows; ++n)
      for (const bool normed : {false, true}) {
        const std::string what = "n=" + std::to_string(n) + " out=" + std::to_string(out) + " in=" +
                                 std::to_string(in) + (normed ? " normed" : "");
        auto rng = rng_for("gemv_fp8 " + what);
        const Fp8Weights w = random_fp8_weights(out, in, rng, 1e-4f, 4e-4f);
        const auto x = random_bf16(n * in, rng);
        const auto norm_weight = random_bf16(in, rng, 1.f, 0.25f);
        DeviceBuffer<uint16_t> dx(x), dnorm(norm_weight), dnormed(n * in), dy((n + 1) * out);
        DeviceBuffer<uint8_t> dw(w.q), dq(n * in);
        DeviceBuffer<float> dscales(w.scales), dq_scales(n * in / 128);
        dy.fill_bytes(0xff);
        const bf16* rows = as_bf16(dx);
        if (normed) {
          rms_norm(as_bf16(dx), nullptr, n, in, as_bf16(dnorm), 1e-6f, as_bf16(dnormed), nullptr);
          rows = as_bf16(dnormed);
        }
        quantize_fp8_blocks(rows, n, in, dq.data(), dq_scales.data(), n, nullptr);
        const GemvInput input = normed ? GemvInput{.x = as_bf16(dx), .norm_weight = as_bf16(dnorm), .eps = 1e-6f}
                                       : GemvInput{.x = as_bf16(dx)};
        gemv_fp8(input, n, dw.data(), dscales.data(), out, in, as_bf16(dy), nullptr);
        sync();
        const auto y = expect_untouched_past(dy.download(), n * out, what);
        const auto quantized = dequantize_rows(dq.download(), dq_scales.download(), n, in);
        // bf16 output: rounding alone is at most 2^-9 an element.
        report("gemv_fp8", what, rel_err(widen(y), matmul_ref(quantized, n, w.dequantized, out, in)), 4e-3);
      }
}

// A depth that splits a scale block, and more rows than a GEMV takes.
TEST(CudaFp8Gemv, RefusesShapesItCannotRun) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint16_t> x(256), y(8);
  DeviceBuffer<uint8_t> w(8 * 256);
  DeviceBuffer<float> scales(2);
  EXPECT_THROW(gemv_fp8({.x = as_bf16(x)}, 1, w.data(), scales.data(), 8, 200, as_bf16(y), nullptr), Error);
  EXPECT_THROW(gemv_fp8({.x = as_bf16(x)}, 3, w.data(), scales.data(), 8, 256, as_bf16(y), nullptr), Error);
}

}  // namespace
}  // namespace tide::cuda
