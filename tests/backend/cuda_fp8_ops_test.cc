// The fp8 kernels of DeepSeek-V3's scheme against their definitions and CPU twins: the
// activation quantizers (scale = amax / 448 per 1×128 block, x ≈ q · scale), alone and fused
// after SiLU·mul or RMSNorm, and padded to whole row tiles; then cuBLASLt's block-scaled GEMM
// against cpu::matmul on the same fp8 operands dequantized as the checkpoint defines them
// (W = w · weight_scale_inv per 128×128). The same conventions as cuda_ops_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "cuda_test_support.h"
#include "tensor/dtype.h"

namespace tide::cuda {
namespace {

TEST(CudaOps, QuantizeFp8BlocksRoundTrips) {
  REQUIRE_DEVICE();
  const std::pair<int64_t, int64_t> shapes[] = {{1, 128}, {3, 256}, {17, 7168}, {130, 1024}};
  for (const auto& [n, k] : shapes) {
    const std::string what = "n=" + std::to_string(n) + " k=" + std::to_string(k);
    auto rng = rng_for("quantize_fp8 " + what);
    auto x = random_bf16(n * k, rng);
    std::fill(x.begin(), x.begin() + 128, uint16_t{0});  // an all-zero block
    DeviceBuffer<uint16_t> dx(x);
    DeviceBuffer<uint8_t> dq(n * k);
    DeviceBuffer<float> ds(n * k / 128);
    ds.fill_bytes(0xff);
    quantize_fp8_blocks(as_bf16(dx), n, k, dq.data(), ds.data(), n, nullptr);
    sync();
    const auto q = dq.download();
    const auto scales = ds.download();
    const auto xf = widen(x);
    double worst_scale = 0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t b = 0; b < k / 128; ++b) {
        float amax = 0;
        for (int64_t c = b * 128; c < (b + 1) * 128; ++c) amax = std::max(amax, std::fabs(xf[r * k + c]));
        const float expected = amax > 0 ? amax / 448.f : 1.f;
        worst_scale = std::max(worst_scale, std::fabs(double(scales[b * n + r]) - expected) / expected);
      }
    report("quant_fp8", what + " scales", worst_scale, 1e-6);
    // e4m3 keeps 3 mantissa bits: at most 1/16 relative error on any value, about 2.5% in norm.
    report("quant_fp8", what, rel_err(dequantize_rows(q, scales, n, k), xf), 0.04);
    // Each byte exactly as the CPU rounds x / scale (nearest, ties to even, saturating), with the
    // kernel's scale: a rounding mode that differs would pass the norm above.
    int64_t wrong_bytes = 0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        const float inverse = 1.f / scales[(c / 128) * n + r];
        wrong_bytes += q[r * k + c] != f32_to_fp8_e4m3(xf[r * k + c] * inverse);
      }
    EXPECT_EQ(wrong_bytes, 0) << what << ": bytes that differ from the CPU's e4m3 rounding";
  }
}

// Padded to whole tiles of rows (as Gemm::fp8_block_nt takes them): the real rows as unpadded, the
// scales at the padded stride, and the padding as zero rows quantize (zero bytes, scale 1).
TEST(CudaOps, QuantizeFp8BlocksPadsRowsAsZeroRows) {
  REQUIRE_DEVICE();
  for (const auto& [n, padded] : {std::pair<int64_t, int64_t>{1, 16}, {13, 16}, {17, 32}, {16, 16}}) {
    const int64_t k = 384;
    const std::string what = "n=" + std::to_string(n) + " padded=" + std::to_string(padded);
    auto rng = rng_for("quantize_fp8_padded " + what);
    const auto x = random_bf16(n * 2 * k, rng);  // also read as gate_up [n, 2k] for the fused twin
    DeviceBuffer<uint16_t> dx(x);
    for (const bool fused : {false, true}) {
      DeviceBuffer<uint8_t> dq(n * k), dq_padded(padded * k);
      DeviceBuffer<float> ds(n * k / 128), ds_padded(padded * k / 128);
      dq_padded.fill_bytes(0xff);
      ds_padded.fill_bytes(0xff);
      if (fused) {
        silu_mul_quantize_fp8_blocks(as_bf16(dx), n, k, dq.data(), ds.data(), n, nullptr);
        silu_mul_quantize_fp8_blocks(as_bf16(dx), n, k, dq_padded.data(), ds_padded.data(), padded, nullptr);
      } else {
        quantize_fp8_blocks(as_bf16(dx), n, k, dq.data(), ds.data(), n, nullptr);
        quantize_fp8_blocks(as_bf16(dx), n, k, dq_padded.data(), ds_padded.data(), padded, nullptr);
      }
      sync();
      const auto q = dq.download(), q_padded = dq_padded.download();
      const auto scales = ds.download(), scales_padded = ds_padded.download();
      int64_t differing = 0;
      for (int64_t r = 0; r < padded; ++r)
        for (int64_t c = 0; c < k; ++c) differing += q_padded[r * k + c] != (r < n ? q[r * k + c] : uint8_t{0});
      for (int64_t b = 0; b < k / 128; ++b)
        for (int64_t r = 0; r < padded; ++r)
          differing += scales_padded[b * padded + r] != (r < n ? scales[b * n + r] : 1.f);
      EXPECT_EQ(differing, 0) << what << (fused ? " (silu_mul fused)" : "");
    }
  }
}

// How many e4m3 bytes and block scales of a fused kernel's output differ from the reference pair's.
int64_t fp8_blocks_differing(const std::vector<uint8_t>& q, const std::vector<float>& scales,
                             const std::vector<uint8_t>& q_ref, const std::vector<float>& scales_ref) {
  int64_t differing = 0;
  for (std::size_t i = 0; i < q.size(); ++i) differing += q[i] != q_ref[i];
  for (std::size_t i = 0; i < scales.size(); ++i) differing += scales[i] != scales_ref[i];
  return differing;
}

TEST(CudaOps, SiluMulQuantizeFp8IsSiluMulThenQuantize) {
  REQUIRE_DEVICE();
  for (int64_t inter : {128, 384, 2048})
    for (int64_t n : {1, 3, 17, 130}) {
      const std::string what = "n=" + std::to_string(n) + " inter=" + std::to_string(inter);
      auto rng = rng_for("silu_mul_quantize_fp8 " + what);
      auto gate_up = random_bf16(n * 2 * inter, rng, 0.f, 2.f);
      std::fill(gate_up.begin() + inter, gate_up.begin() + inter + 128, uint16_t{0});  // an all-zero output block
      DeviceBuffer<uint16_t> dgu(gate_up), dmid(n * inter);
      DeviceBuffer<uint8_t> dq(n * inter), dq_ref(n * inter);
      DeviceBuffer<float> ds(n * inter / 128), ds_ref(n * inter / 128);
      dq.fill_bytes(0xff);
      ds.fill_bytes(0xff);
      silu_mul_quantize_fp8_blocks(as_bf16(dgu), n, inter, dq.data(), ds.data(), n, nullptr);
      silu_mul(as_bf16(dgu), n, inter, as_bf16(dmid), nullptr);
      quantize_fp8_blocks(as_bf16(dmid), n, inter, dq_ref.data(), ds_ref.data(), n, nullptr);
      sync();
      const auto q = dq.download();
      const auto scales = ds.download();
      EXPECT_EQ(fp8_blocks_differing(q, scales, dq_ref.download(), ds_ref.download()), 0)
          << what << ": bytes or scales differing from silu_mul then quantize_fp8_blocks";
      // And against the CPU twin of the activation, through the quantizer's precision.
      const std::vector<float> gu = widen(gate_up);
      std::vector<float> ref(n * inter);
      for (int64_t i = 0; i < n; ++i)
        cpu::silu_mul(gu.data() + i * 2 * inter, gu.data() + i * 2 * inter + inter, inter, ref.data() + i * inter);
      report("silu_mul_q8", what, rel_err(dequantize_rows(q, scales, n, inter), ref), 0.04);
    }
  DeviceBuffer<uint16_t> odd(2 * 100);
  DeviceBuffer<uint8_t> q(100);
  DeviceBuffer<float> s(1);
  EXPECT_THROW(silu_mul_quantize_fp8_blocks(as_bf16(odd), 1, 100, q.data(), s.data(), 1, nullptr), Error);
}

TEST(CudaOps, RmsNormQuantizeFp8IsRmsNormThenQuantize) {
  REQUIRE_DEVICE();
  for (int64_t dim : {128, 384, 7168})
    for (int64_t n : {1, 3, 17})
      for (bool with_residual : {false, true}) {
        const std::string what = std::string(with_residual ? "residual" : "plain") + " n=" + std::to_string(n) +
                                 " dim=" + std::to_string(dim);
        auto rng = rng_for("rms_norm_quantize_fp8 " + what);
        const auto x = random_bf16(n * dim, rng), w = random_bf16(dim, rng, 1.f, 0.2f);
        const auto res = random_bf16(n * dim, rng);
        const float eps = 1e-6f;
        DeviceBuffer<uint16_t> dx(x), dw(w), dres(res), dres_ref(res), dy(n * dim);
        DeviceBuffer<uint8_t> dq(n * dim), dq_ref(n * dim);
        DeviceBuffer<float> ds(n * dim / 128), ds_ref(n * dim / 128);
        dq.fill_bytes(0xff);
        ds.fill_bytes(0xff);
        rms_norm_quantize_fp8_blocks(as_bf16(dx), with_residual ? as_bf16(dres) : nullptr, n, dim, as_bf16(dw), eps,
                                     dq.data(), ds.data(), nullptr);
        rms_norm(as_bf16(dx), with_residual ? as_bf16(dres_ref) : nullptr, n, dim, as_bf16(dw), eps, as_bf16(dy),
                 nullptr);
        quantize_fp8_blocks(as_bf16(dy), n, dim, dq_ref.data(), ds_ref.data(), n, nullptr);
        sync();
        const auto q = dq.download();
      const auto scales = ds.download();
        EXPECT_EQ(fp8_blocks_differing(q, scales, dq_ref.download(), ds_ref.download()), 0)
            << what << ": bytes or scales differing from rms_norm then quantize_fp8_blocks";
        if (with_residual) {
          EXPECT_EQ(dres.download(), dres_ref.download()) << what << ": residual";
        }
        // And against the CPU twin of the norm, through the quantizer's precision.
        std::vector<float> in = widen(x);
        if (with_residual)
          for (std::size_t i = 0; i < in.size(); ++i) in[i] = bf16_to_f32(f32_to_bf16(bf16_to_f32(res[i]) + in[i]));
        std::vector<float> ref(n * dim);
        cpu::rms_norm(in.data(), n, dim, widen(w).data(), eps, ref.data());
        report("rms_norm_q8", what, rel_err(dequantize_rows(q, scales, n, dim), ref), 0.04);
      }
  DeviceBuffer<uint16_t> odd(100), w(100);
  DeviceBuffer<uint8_t> q(100);
  DeviceBuffer<float> s(1);
  EXPECT_THROW(rms_norm_quantize_fp8_blocks(as_bf16(odd), nullptr, 1, 100, as_bf16(w), 1e-6f, q.data(), s.data(), nullptr),
               Error);
}

// Row counts that are whole tiles of 16 and others padded to one (the model's path for fp8
// projections above decode sizes, CudaModelBase::linear: quantized with padding, then the GEMM
// over the padded count). The real rows match cpu::matmul on the dequantized operands; padding
// rows come out zero.
TEST(CudaOps, Fp8BlockGemmMatchesCpuMatmul) {
  REQUIRE_DEVICE();
  Gemm gemm;
  const std::pair<int64_t, int64_t> shapes[] = {{512, 256}, {1024, 384}, {7168, 256}, {2048, 1408}, {1536, 640}};
  for (const auto& [in, out] : shapes)
    for (int64_t n : {3, 13, 16, 17, 48, 144, 272}) {
      const int64_t padded = (n + Gemm::kFp8RowTile - 1) / Gemm::kFp8RowTile * Gemm::kFp8RowTile;
      const std::string what = "n=" + std::to_string(n) + " in=" + std::to_string(in) + " out=" + std::to_string(out);
      auto rng = rng_for("gemm_fp8 " + what);
      const auto x = random_bf16(n * in, rng);
      const Fp8Weights w = random_fp8_weights(out, in, rng, 0.5f / 4096, 2.f / 4096);
      DeviceBuffer<uint16_t> dx(x), dy(padded * out);
      DeviceBuffer<uint8_t> dq(padded * in), dw(w.q);
      DeviceBuffer<float> dxs(padded * in / 128), dws(w.scales);
      dy.fill_bytes(0xff);
      quantize_fp8_blocks(as_bf16(dx), n, in, dq.data(), dxs.data(), padded, nullptr);
      gemm.fp8_block_nt(dq.data(), dxs.data(), padded, dw.data(), dws.data(), out, in, as_bf16(dy), nullptr);
      sync();
      const auto y = widen(dy.download());
      const auto ref =
          matmul_ref(dequantize_rows(dq.download(), dxs.download(), n, in, padded), n, w.dequantized, out, in);
      report("gemm_fp8", what, rel_err(std::vector<float>(y.begin(), y.begin() + n * out), ref), kBf16Tolerance);
      EXPECT_TRUE(std::all_of(y.begin() + n * out, y.end(), [](float v) { return v == 0.f; }))
          << what << ": a padding row is not zero";
    }
  // Shapes the block-scaled kernels do not take are refused with what to do, not run wrongly: a
  // token count not a multiple of 16, and depths below 512 (which they multiply wrongly).
  DeviceBuffer<uint8_t> q(16 * 512), w(256 * 512);
  DeviceBuffer<float> s(64), ws(8);
  DeviceBuffer<uint16_t> y(16 * 256);
  EXPECT_THROW(gemm.fp8_block_nt(q.data(), s.data(), 3, w.data(), ws.data(), 128, 512, as_bf16(y), nullptr), Error);
  for (const int64_t in : {128, 256, 384})
    EXPECT_THROW(gemm.fp8_block_nt(q.data(), s.data(), 16, w.data(), ws.data(), 256, in, as_bf16(y), nullptr), Error);
}

}  // namespace
}  // namespace tide::cuda
