// The per-head fp8 products of MLA's absorbed attention with an fp8 kv_b_proj, against their CPU
// twins: quantize_fp8_blocks over rows at two strides (a token's heads, then its tokens), the
// batched fp8 GEMM with the heads as its batch and its decode-sized GEMV (each head's cpu::matmul
// on the dequantized operands), and the transposes that make W_UK[h]ᵀ at load.
#include <gtest/gtest.h>

#include "cuda_test_support.h"

namespace tide::cuda {
namespace {

// Rows of `width` that lie `head_stride` apart within a token and `token_stride` apart across
// tokens, as MLA's query rows do (the nope part of [nope | rope] per head): gathered on the host
// and quantized as one contiguous block, they must give the same bytes and scales.
TEST(CudaFp8Heads, QuantizingRowsAtTwoStridesEqualsQuantizingThemGathered) {
  REQUIRE_DEVICE();
  for (auto [tokens, heads] : {std::pair<int64_t, int64_t>{1, 3}, {5, 16}, {33, 2}}) {
    const int64_t width = 128, head_stride = 192, token_stride = heads * head_stride + 64, rows = tokens * heads;
    const std::string what = "tokens=" + std::to_string(tokens) + " heads=" + std::to_string(heads);
    auto rng = rng_for("quantize strided " + what);
    const auto x = random_bf16(tokens * token_stride, rng);
    std::vector<uint16_t> gathered;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        const auto from = x.begin() + t * token_stride + h * head_stride;
        gathered.insert(gathered.end(), from, from + width);
      }
    DeviceBuffer<uint16_t> dx(x), dgathered(gathered);
    DeviceBuffer<uint8_t> dq(rows * width), dq_ref(rows * width);
    DeviceBuffer<float> ds(rows), ds_ref(rows);
    quantize_fp8_blocks({.x = as_bf16(dx), .row_stride = head_stride, .group_rows = heads, .group_stride = token_stride},
                        rows, width, dq.data(), ds.data(), rows, nullptr);
    quantize_fp8_blocks(as_bf16(dgathered), rows, width, dq_ref.data(), ds_ref.data(), rows, nullptr);
    sync();
    EXPECT_EQ(dq.download(), dq_ref.download()) << what;
    EXPECT_EQ(ds.download(), ds_ref.download()) << what;
  }
}

// Each head's product against cpu::matmul on its dequantized rows ([t, h] rows of x) and the
// first `out` rows of its stacked matrix (head_rows apart); y's rows token-major, y_ld apart, each
// head's `out` outputs head_stride apart with the room between them left poisoned. Per head the
// rows come out token-major; the reference's are too.
struct HeadShape {
  int64_t heads, head_rows, tokens, out, in;
};
struct HeadProducts {
  std::vector<float> got, ref;
};
HeadProducts head_products(const std::string& what, const std::vector<float>& x, const Fp8Weights& w,
                           const HeadShape& s, const std::vector<uint16_t>& y, int64_t y_ld, int64_t head_stride) {
  HeadProducts p;
  for (int64_t h = 0; h < s.heads; ++h) {
    std::vector<float> x_h;
    for (int64_t t = 0; t < s.tokens; ++t)
      x_h.insert(x_h.end(), x.begin() + (t * s.heads + h) * s.in, x.begin() + (t * s.heads + h + 1) * s.in);
    const std::vector<float> w_h(w.dequantized.begin() + h * s.head_rows * s.in,
                                 w.dequantized.begin() + (h * s.head_rows + s.out) * s.in);
    const auto r = matmul_ref(x_h, s.tokens, w_h, s.out, s.in);
    p.ref.insert(p.ref.end(), r.begin(), r.end());
    for (int64_t t = 0; t < s.tokens; ++t) {
      for (int64_t o = 0; o < s.out; ++o) p.got.push_back(bf16_to_f32(y[t * y_ld + h * head_stride + o]));
      for (int64_t o = s.out; o < head_stride; ++o)
        EXPECT_EQ(y[t * y_ld + h * head_stride + o], 0xffff) << what << ": written between heads";
    }
  }
  return p;
}

// The heads' e4m3 matrices [out, in] one after another in one stacked matrix, each with a block of
// rows to spare after it, on the device; and their output y [tokens, heads, out + 6], poisoned, so
// that the room between heads shows a write past a head's `out`.
struct StackedHeads {
  StackedHeads(int64_t heads, int64_t tokens, int64_t out, int64_t in, std::mt19937& rng, float scale_lo,
               float scale_hi)
      : shape{heads, (out + 127) / 128 * 128 + 128, tokens, out, in},
        w(random_fp8_weights(heads * shape.head_rows, in, rng, scale_lo, scale_hi)),
        dw(w.q),
        dws(w.scales),
        y_head_stride(out + 6),
        y_ld(heads * y_head_stride),
        dy(tokens * y_ld) {
    dy.fill_bytes(0xff);
  }
  int64_t w_batch_stride() const { return shape.head_rows * shape.in; }
  int64_t w_scale_batch_stride() const { return shape.head_rows / 128 * (shape.in / 128); }
  // What the device wrote, against each head's product on x's dequantized [t, h] rows.
  HeadProducts products(const std::string& what, const std::vector<float>& x) const {
    return head_products(what, x, w, shape, dy.download(), y_ld, y_head_stride);
  }

  HeadShape shape;
  Fp8Weights w;
  DeviceBuffer<uint8_t> dw;
  DeviceBuffer<float> dws;
  int64_t y_head_stride, y_ld;
  DeviceBuffer<uint16_t> dy;
};

// y[t, h, :out] = x[t, h, :in] · W_hᵀ for each head, with the layouts of MLA's two products: x's
// rows quantized token-major ([t, h] rows), each head's matrix and scales at a stride in one
// stacked matrix, y's rows token-major with room between heads that must stay untouched. Token
// counts from decode's one row to past two 64-row groups; widths of the absorption (512 × 128:
// W_UK[h]ᵀ), of W_UV (128 × 512) and a partial last scale row (130).
TEST(CudaFp8Heads, BatchedGemmMatchesEachHeadsCpuMatmul) {
  REQUIRE_DEVICE();
  const int64_t heads = 3;
  for (int64_t tokens : {1, 2, 5, 64, 130})
    for (auto [out, in] : {std::pair<int64_t, int64_t>{512, 128}, {128, 512}, {130, 256}}) {
      const std::string what = "tokens=" + std::to_string(tokens) + " out=" + std::to_string(out) + " in=" + std::to_string(in);
      auto rng = rng_for("gemm_fp8_batched " + what);
      const int64_t rows = tokens * heads;
      DeviceBuffer<uint16_t> dx(random_bf16(rows * in, rng));
      DeviceBuffer<uint8_t> dq(rows * in);
      DeviceBuffer<float> dqs(rows * in / 128);
      quantize_fp8_blocks(as_bf16(dx), rows, in, dq.data(), dqs.data(), rows, nullptr);

      const float unit = 1.f / (16.f * std::sqrt(static_cast<float>(in)));
      StackedHeads s(heads, tokens, out, in, rng, 0.5f * unit, 2.f * unit);
      gemm_fp8_batched({.x = dq.data(), .x_scales = dqs.data(), .x_ld = heads * in, .x_batch_stride = in,
                        .x_scale_ld = heads, .x_scale_block = rows, .x_scale_batch_stride = 1, .w = s.dw.data(),
                        .w_scales = s.dws.data(), .w_batch_stride = s.w_batch_stride(),
                        .w_scale_batch_stride = s.w_scale_batch_stride(), .y = as_bf16(s.dy), .y_ld = s.y_ld,
                        .y_batch_stride = s.y_head_stride, .rows = tokens, .out = out, .in = in,
                        .batch = static_cast<int>(heads)},
                       nullptr);
      sync();

      const HeadProducts p = s.products(what, dequantize_rows(dq.download(), dqs.download(), rows, in));
      report("gemm_fp8_batched", what, rel_err(p.got, p.ref), kBf16Tolerance);
    }
}

// The decode-sized form: one or two bf16 rows a head, at the absorption's strides (a token's
// heads dk apart inside a wider row), quantized as read. Against each head's cpu::matmul on the
// rows as quantize_fp8_blocks quantizes them and the dequantized weights.
TEST(CudaFp8Heads, BatchedGemvMatchesEachHeadsCpuMatmulOnTheQuantizedRows) {
  REQUIRE_DEVICE();
  const int64_t heads = 3;
  for (int64_t tokens = 1; tokens <= kGemvMaxRows; ++tokens)
    for (auto [out, in] : {std::pair<int64_t, int64_t>{512, 128}, {128, 512}, {130, 256}, {70, 128}}) {
      const std::string what = "tokens=" + std::to_string(tokens) + " out=" + std::to_string(out) + " in=" + std::to_string(in);
      auto rng = rng_for("gemv_fp8_batched " + what);
      const int64_t head_stride = in + 64, x_ld = heads * head_stride + 8;
      const auto x = random_bf16(tokens * x_ld, rng);
      std::vector<uint16_t> gathered;  // [t, h] rows, for the reference's quantization
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t h = 0; h < heads; ++h)
          gathered.insert(gathered.end(), x.begin() + t * x_ld + h * head_stride,
                          x.begin() + t * x_ld + h * head_stride + in);
      const int64_t rows = tokens * heads;
      DeviceBuffer<uint16_t> dx(x), dgathered(gathered);
      DeviceBuffer<uint8_t> dq(rows * in);
      DeviceBuffer<float> dqs(rows * in / 128);
      quantize_fp8_blocks(as_bf16(dgathered), rows, in, dq.data(), dqs.data(), rows, nullptr);

      StackedHeads s(heads, tokens, out, in, rng, 1e-4f, 4e-4f);
      gemv_fp8_batched({.x = as_bf16(dx), .x_ld = x_ld, .x_batch_stride = head_stride, .w = s.dw.data(),
                        .w_scales = s.dws.data(), .w_batch_stride = s.w_batch_stride(),
                        .w_scale_batch_stride = s.w_scale_batch_stride(), .y = as_bf16(s.dy), .y_ld = s.y_ld,
                        .y_batch_stride = s.y_head_stride, .rows = tokens, .out = out, .in = in,
                        .batch = static_cast<int>(heads)},
                       nullptr);
      sync();

      const HeadProducts p = s.products(what, dequantize_rows(dq.download(), dqs.download(), rows, in));
      // bf16 output: rounding alone is at most 2^-9 an element.
      report("gemv_fp8_batched", what, rel_err(p.got, p.ref), 4e-3);
    }
  DeviceBuffer<uint16_t> x(256), y(128);
  DeviceBuffer<uint8_t> w(128 * 128);
  DeviceBuffer<float> scales(1);
  const Fp8BatchedGemv three_rows{.x = as_bf16(x), .x_ld = 128, .w = w.data(), .w_scales = scales.data(),
                                  .y = as_bf16(y), .y_ld = 128, .rows = 3, .out = 128, .in = 128};
  EXPECT_THROW(gemv_fp8_batched(three_rows, nullptr), Error);
  Fp8BatchedGemv shallow = three_rows;
  shallow.rows = 1;
  shallow.in = 64;
  EXPECT_THROW(gemv_fp8_batched(shallow, nullptr), Error);
}

TEST(CudaFp8Heads, BatchedGemmRefusesMisalignedRows) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint8_t> q(128 * 128);  // x's row, and W
  DeviceBuffer<float> s(8);
  DeviceBuffer<uint16_t> y(512);
  const Fp8BatchedGemm ok{.x = q.data(), .x_scales = s.data(), .x_ld = 128, .x_scale_block = 1, .w = q.data(),
                          .w_scales = s.data(), .y = as_bf16(y), .y_ld = 128, .rows = 1, .out = 128, .in = 128};
  EXPECT_NO_THROW(gemm_fp8_batched(ok, nullptr));
  Fp8BatchedGemm odd_ld = ok;
  odd_ld.x_ld = 136;
  EXPECT_THROW(gemm_fp8_batched(odd_ld, nullptr), Error);
  Fp8BatchedGemm odd_stride = ok;
  odd_stride.w_batch_stride = 100;
  EXPECT_THROW(gemm_fp8_batched(odd_stride, nullptr), Error);
  Fp8BatchedGemm shallow = ok;
  shallow.in = 64;
  shallow.x_ld = 64;
  EXPECT_THROW(gemm_fp8_batched(shallow, nullptr), Error);
  sync();
}

// Each of a batch of matrices, `stride` apart, transposed: the bytes of the e4m3 values, and the
// floats of their scales, moved and nothing else; sizes that leave partial 32×32 tiles.
TEST(CudaFp8Heads, TransposeMovesEachMatrixOfTheBatch) {
  REQUIRE_DEVICE();
  for (auto [rows, cols, batch] : {std::tuple<int64_t, int64_t, int64_t>{128, 512, 3}, {37, 70, 2}, {1, 4, 5}}) {
    const std::string what = std::to_string(rows) + "×" + std::to_string(cols) + " ×" + std::to_string(batch);
    auto rng = rng_for("transpose " + what);
    const int64_t stride = rows * cols + 40;
    std::vector<uint8_t> bytes(batch * stride);
    std::vector<float> floats(batch * stride);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    for (auto& f : floats) f = static_cast<float>(rng() % 1000) / 7.f;
    DeviceBuffer<uint8_t> dbytes(bytes), dbytes_t(batch * rows * cols);
    DeviceBuffer<float> dfloats(floats), dfloats_t(batch * rows * cols);
    transpose_matrices(dbytes.data(), rows, cols, stride, batch, dbytes_t.data(), nullptr);
    transpose_matrices(dfloats.data(), rows, cols, stride, batch, dfloats_t.data(), nullptr);
    sync();
    const auto got_bytes = dbytes_t.download();
    const auto got_floats = dfloats_t.download();
    int64_t wrong = 0;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t to = b * rows * cols + c * rows + r, from = b * stride + r * cols + c;
          wrong += got_bytes[to] != bytes[from];
          wrong += got_floats[to] != floats[from];
        }
    EXPECT_EQ(wrong, 0) << what;
  }
  DeviceBuffer<uint8_t> small(16);
  DeviceBuffer<uint8_t> other(16);
  EXPECT_THROW(transpose_matrices(small.data(), 4, 4, 8, 2, other.data(), nullptr), Error);  // overlapping matrices
  EXPECT_THROW(transpose_matrices(small.data(), 4, 4, 16, 1, small.data(), nullptr), Error);  // in place
}

}  // namespace
}  // namespace tide::cuda
