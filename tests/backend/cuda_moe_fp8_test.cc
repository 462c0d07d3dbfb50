// moe_grouped_gemm_fp8 against its CPU twin: cpu::matmul over each expert's rows on the fp8
// operands dequantized as DeepSeek-V3 defines them (activations x = q · scale per 1×128 block,
// weights W = w · weight_scale_inv per 128×128 block).
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
    quantize_fp8_blocks(as_bf16(dx), total, in, dq.data(), dqs.data(), nullptr);
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
}

}  // namespace
}  // namespace tide::cuda
