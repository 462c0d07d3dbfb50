// The CPU kernels are the specification the GPU kernels are tested against, so they are checked
// here against plain double-precision loops, on random inputs of sizes that are not multiples of
// any tile or vector width.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"

namespace tide::cpu {
namespace {

std::vector<float> random_values(std::size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Expects |actual − expected| ≤ tolerance · bound elementwise, where `bound` is the size of the
// terms that were summed (so cancellation does not demand impossible relative accuracy).
void expect_close(const std::vector<float>& actual, const std::vector<double>& expected,
                  const std::vector<double>& bound, double tolerance, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], tolerance * bound[i] + 1e-30) << what << " element " << i;
}

WeightMatrix weight(DType dtype, int64_t rows, int64_t cols, const void* data) {
  WeightMatrix w;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = data;
  return w;
}

struct MatmulCase {
  int64_t n, rows, cols;
  DType dtype;
  bool bias;
};

std::string name_of(const MatmulCase& c) {
  return std::to_string(c.n) + "x" + std::to_string(c.cols) + "·" + std::to_string(c.rows) + "x" +
         std::to_string(c.cols) + (c.dtype == DType::BF16 ? " bf16" : " f32") + (c.bias ? " +bias" : "");
}

void check_matmul(const MatmulCase& c, std::mt19937& rng) {
  const auto x = random_values(c.n * c.cols, rng);
  const auto w_values = random_values(c.rows * c.cols, rng, 0.5f);
  const auto bias = random_values(c.rows, rng);
  std::vector<uint16_t> w_bf16(w_values.size());
  std::vector<double> w_exact(w_values.size());  // the weight as the kernel sees it
  for (std::size_t i = 0; i < w_values.size(); ++i) {
    w_bf16[i] = f32_to_bf16(w_values[i]);
    w_exact[i] = c.dtype == DType::BF16 ? bf16_to_f32(w_bf16[i]) : w_values[i];
  }
  const WeightMatrix w = weight(c.dtype, c.rows, c.cols,
                                c.dtype == DType::BF16 ? static_cast<const void*>(w_bf16.data()) : w_values.data());

  std::vector<float> y(c.n * c.rows, std::nanf(""));
  matmul(x.data(), c.n, w, y.data(), c.bias ? bias.data() : nullptr);

  std::vector<double> expected(y.size()), bound(y.size());
  for (int64_t i = 0; i < c.n; ++i)
    for (int64_t r = 0; r < c.rows; ++r) {
      double sum = c.bias ? bias[r] : 0.0, magnitude = c.bias ? std::abs(bias[r]) : 0.0;
      for (int64_t k = 0; k < c.cols; ++k) {
        sum += double(x[i * c.cols + k]) * w_exact[r * c.cols + k];
        magnitude += std::abs(double(x[i * c.cols + k]) * w_exact[r * c.cols + k]);
      }
      expected[i * c.rows + r] = sum;
      bound[i * c.rows + r] = magnitude;
    }
  expect_close(y, expected, bound, 1e-5, name_of(c));
}

TEST(CpuMatmulTest, MatchesDoubleLoopForAwkwardSizesAndBothWeightTypes) {
  std::mt19937 rng(1);
  for (DType dtype : {DType::F32, DType::BF16})
    for (int64_t n : {1, 7, 33})
      for (int64_t rows : {1, 7, 33, 129})
        for (int64_t cols : {1, 7, 33, 129}) check_matmul({n, rows, cols, dtype, (rows + cols) % 2 == 0}, rng);
}

TEST(CpuMatmulTest, BiasIsAddedToEveryRow) {
  std::mt19937 rng(2);
  for (DType dtype : {DType::F32, DType::BF16}) check_matmul({5, 129, 33, dtype, true}, rng);
}

TEST(CpuMatmulTest, ZeroWeightGivesExactlyTheBias) {
  const std::vector<float> x = {1, 2, 3}, w(3 * 2, 0.f), bias = {0.25f, -4.f};
  std::vector<float> y(2);
  matmul(x.data(), 1, weight(DType::F32, 2, 3, w.data()), y.data(), bias.data());
  EXPECT_EQ(y, bias);
}

TEST(CpuRmsNormTest, MatchesDoubleLoopAndMayWorkInPlace) {
  std::mt19937 rng(3);
  for (int64_t dim : {1, 7, 129}) {
    const int64_t n = 5;
    const double eps = 1e-6;
    auto x = random_values(n * dim, rng, 3.f);
    const auto weight = random_values(dim, rng);
    std::vector<double> expected(x.size()), bound(x.size(), 1.0);
    for (int64_t i = 0; i < n; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < dim; ++j) ss += double(x[i * dim + j]) * x[i * dim + j];
      const double inv = 1 / std::sqrt(ss / dim + eps);
      for (int64_t j = 0; j < dim; ++j) {
        expected[i * dim + j] = x[i * dim + j] * inv * weight[j];
        bound[i * dim + j] = std::abs(expected[i * dim + j]);
      }
    }
    std::vector<float> y(x.size());
    rms_norm(x.data(), n, dim, weight.data(), eps, y.data());
    expect_close(y, expected, bound, 1e-5, "dim " + std::to_string(dim));
    rms_norm(x.data(), n, dim, weight.data(), eps, x.data());
    EXPECT_EQ(x, y) << "in place, dim " << dim;
  }
}

TEST(CpuRmsNormTest, EpsilonKeepsAZeroRowFinite) {
  std::vector<float> x(4, 0.f), weight(4, 1.f), y(4, 1.f);
  rms_norm(x.data(), 1, 4, weight.data(), 1e-6, y.data());
  EXPECT_EQ(y, x);
}

TEST(CpuSoftmaxTest, MatchesDoubleLoop) {
  std::mt19937 rng(4);
  for (int64_t n : {1, 7, 33, 129}) {
    auto x = random_values(n, rng, 4.f);
    double max = x[0];
    for (float v : x) max = std::max(max, double(v));
    double sum = 0;
    for (float v : x) sum += std::exp(v - max);
    std::vector<double> expected, bound;
    for (float v : x) {
      expected.push_back(std::exp(v - max) / sum);
      bound.push_back(expected.back());
    }
    softmax(x.data(), n);
    expect_close(x, expected, bound, 1e-5, "n " + std::to_string(n));
  }
}

TEST(CpuSoftmaxTest, LargeLogitsDoNotOverflow) {
  std::vector<float> x = {1000.f, 1001.f, 999.f};
  softmax(x.data(), 3);
  const double e = std::exp(1.0), sum = 1 + e + 1 / e;
  EXPECT_NEAR(x[0], 1 / sum, 1e-6);
  EXPECT_NEAR(x[1], e / sum, 1e-6);
  EXPECT_NEAR(x[2], 1 / e / sum, 1e-6);
}

TEST(CpuSiluMulTest, MatchesDefinition) {
  std::mt19937 rng(5);
  const auto gate = random_values(33, rng, 3.f), up = random_values(33, rng);
  std::vector<float> out(33);
  silu_mul(gate.data(), up.data(), 33, out.data());
  for (int i = 0; i < 33; ++i)
    EXPECT_NEAR(out[i], gate[i] / (1 + std::exp(-double(gate[i]))) * up[i], 1e-6 * (1 + std::abs(gate[i] * up[i])));
}

// Rotates (v[a], v[b]) by the angle of (cos, sin) for each pair, in double.
std::vector<double> rotated(const std::vector<float>& v, const std::vector<float>& cos, const std::vector<float>& sin,
                            bool interleaved) {
  const std::size_t half = v.size() / 2;
  std::vector<double> out(v.begin(), v.end());
  for (std::size_t i = 0; i < half; ++i) {
    const std::size_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    out[a] = double(v[a]) * cos[i] - double(v[b]) * sin[i];
    out[b] = double(v[b]) * cos[i] + double(v[a]) * sin[i];
  }
  return out;
}

TEST(CpuRopeTest, BothLayoutsRotateTheirPairs) {
  std::mt19937 rng(6);
  for (bool interleaved : {true, false})
    for (int64_t dim : {2, 8, 64}) {
      auto v = random_values(dim, rng);
      std::vector<float> cos(dim / 2), sin(dim / 2);
      const auto angles = random_values(dim / 2, rng, 3.f);
      for (int64_t i = 0; i < dim / 2; ++i) cos[i] = std::cos(angles[i]), sin[i] = std::sin(angles[i]);
      const auto expected = rotated(v, cos, sin, interleaved);
      apply_rope(v.data(), dim, cos.data(), sin.data(), interleaved);
      expect_close(v, expected, std::vector<double>(dim, 1.0), 1e-6,
                   (interleaved ? "interleaved dim " : "halves dim ") + std::to_string(dim));
    }
}

TEST(CpuRopeTest, LayoutsDifferOnlyInWhichElementsPair) {
  // [a, b, c, d]: interleaved rotates (a, b) and (c, d); halves rotate (a, c) and (b, d).
  std::vector<float> inter = {1, 2, 3, 4}, halves = {1, 2, 3, 4};
  const std::vector<float> cos = {0, 0}, sin = {1, 1};  // a quarter turn
  apply_rope(inter.data(), 4, cos.data(), sin.data(), true);
  apply_rope(halves.data(), 4, cos.data(), sin.data(), false);
  EXPECT_EQ(inter, (std::vector<float>{-2, 1, -4, 3}));
  EXPECT_EQ(halves, (std::vector<float>{-3, -4, 1, 2}));
}

struct AttentionCase {
  int64_t q_tokens, q_start, heads, kv_heads, qk_dim, v_dim;
  int64_t k_pad = 0, v_pad = 0;  // extra floats per key/value row, as in an interleaved cache
};

void check_attention(const AttentionCase& c, std::mt19937& rng) {
  const int64_t ctx = c.q_start + c.q_tokens;
  const int64_t k_stride = c.kv_heads * c.qk_dim + c.k_pad, v_stride = c.kv_heads * c.v_dim + c.v_pad;
  const auto q = random_values(c.q_tokens * c.heads * c.qk_dim, rng);
  const auto k = random_values(ctx * k_stride, rng);
  const auto v = random_values(ctx * v_stride, rng);
  const float scale = 1.f / std::sqrt(float(c.qk_dim));
  std::vector<float> out(c.q_tokens * c.heads * c.v_dim, std::nanf(""));
  attention({.q = q.data(), .k = k.data(), .v = v.data(), .out = out.data(), .q_tokens = c.q_tokens,
             .q_start = c.q_start, .ctx_len = ctx, .num_heads = c.heads, .num_kv_heads = c.kv_heads,
             .qk_dim = c.qk_dim, .v_dim = c.v_dim, .k_stride = k_stride, .v_stride = v_stride, .scale = scale});

  std::vector<double> expected(out.size()), bound(out.size());
  const int64_t group = c.heads / c.kv_heads;
  for (int64_t i = 0; i < c.q_tokens; ++i)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / group, visible = c.q_start + i + 1;
      std::vector<double> p(visible);
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j < visible; ++j) {
        double s = 0;
        for (int64_t d = 0; d < c.qk_dim; ++d)
          s += double(q[(i * c.heads + h) * c.qk_dim + d]) * k[j * k_stride + g * c.qk_dim + d];
        p[j] = s * scale;
        max = std::max(max, p[j]);
      }
      for (double& x : p) sum += (x = std::exp(x - max));
      for (int64_t d = 0; d < c.v_dim; ++d) {
        double acc = 0, magnitude = 0;
        for (int64_t j = 0; j < visible; ++j) {
          acc += p[j] / sum * v[j * v_stride + g * c.v_dim + d];
          magnitude += p[j] / sum * std::abs(v[j * v_stride + g * c.v_dim + d]);
        }
        expected[(i * c.heads + h) * c.v_dim + d] = acc;
        bound[(i * c.heads + h) * c.v_dim + d] = magnitude;
      }
    }
  expect_close(out, expected, bound, 1e-5,
               "q_tokens " + std::to_string(c.q_tokens) + " q_start " + std::to_string(c.q_start) + " heads " +
                   std::to_string(c.heads) + "/" + std::to_string(c.kv_heads));
}

TEST(CpuAttentionTest, PrefillIsCausal) {
  std::mt19937 rng(7);
  check_attention({.q_tokens = 33, .q_start = 0, .heads = 4, .kv_heads = 4, .qk_dim = 24, .v_dim = 16}, rng);
}

TEST(CpuAttentionTest, ChunkAfterCachedTokensSeesThemAll) {
  std::mt19937 rng(8);
  check_attention({.q_tokens = 5, .q_start = 17, .heads = 4, .kv_heads = 4, .qk_dim = 7, .v_dim = 9}, rng);
  check_attention({.q_tokens = 1, .q_start = 128, .heads = 2, .kv_heads = 2, .qk_dim = 33, .v_dim = 33}, rng);
}

TEST(CpuAttentionTest, GroupedQueryHeadsShareTheirKvHead) {
  std::mt19937 rng(9);
  check_attention({.q_tokens = 7, .q_start = 3, .heads = 6, .kv_heads = 2, .qk_dim = 16, .v_dim = 16}, rng);
  check_attention({.q_tokens = 7, .q_start = 3, .heads = 6, .kv_heads = 3, .qk_dim = 16, .v_dim = 8}, rng);
}

TEST(CpuAttentionTest, MultiQueryOverPaddedRowsAsInTheLatentCache) {
  // MLA's absorbed form: one kv head, key = [latent | rope], value = the latent prefix of that row.
  std::mt19937 rng(10);
  check_attention({.q_tokens = 3, .q_start = 30, .heads = 4, .kv_heads = 1, .qk_dim = 40, .v_dim = 32,
                   .k_pad = 0, .v_pad = 8},
                  rng);
  check_attention({.q_tokens = 2, .q_start = 4, .heads = 5, .kv_heads = 1, .qk_dim = 7, .v_dim = 3, .k_pad = 5,
                   .v_pad = 1},
                  rng);
}

TEST(CpuAttentionTest, SingleKeyReturnsItsValue) {
  const std::vector<float> q = {3, -1}, k = {0.5f, 2}, v = {7, -8, 9};
  std::vector<float> out(3);
  attention({.q = q.data(), .k = k.data(), .v = v.data(), .out = out.data(), .q_tokens = 1, .q_start = 0,
             .ctx_len = 1, .num_heads = 1, .num_kv_heads = 1, .qk_dim = 2, .v_dim = 3, .k_stride = 2, .v_stride = 3,
             .scale = 1.f});
  EXPECT_EQ(out, v);
}

}  // namespace
}  // namespace tide::cpu
