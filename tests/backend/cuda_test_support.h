#pragma once
// What the CUDA op tests share: random bf16 and fp8 inputs, the CPU twins' matmul on them, the
// relative error against a CPU twin, one report line per case, and skipping on machines without
// a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"
#include "tensor/dtype.h"
#include "tensor/weight_matrix.h"

namespace tide::cuda {

constexpr double kBf16Tolerance = 1e-2;

inline bool have_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

#define REQUIRE_DEVICE()                                                     \
  do {                                                                       \
    if (!have_device()) GTEST_SKIP() << "no CUDA device: CUDA kernels not run"; \
  } while (0)

inline int sm_count() {
  int device = 0, sms = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  TIDE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// A generator per case: fixed, but different for every case.
inline std::mt19937 rng_for(const std::string& name) { return std::mt19937(static_cast<uint32_t>(std::hash<std::string>{}(name))); }

// bf16 values (as stored) of normal(mean, stddev) draws, never exactly zero.
inline std::vector<uint16_t> random_bf16(std::size_t n, std::mt19937& rng, float mean = 0.f, float stddev = 1.f) {
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<uint16_t> v(n);
  for (auto& x : v) {
    float f = dist(rng);
    if (f == 0.f) f = 0.5f;
    x = f32_to_bf16(f);
  }
  return v;
}

inline std::vector<float> widen(const std::vector<uint16_t>& v) {
  std::vector<float> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) f[i] = bf16_to_f32(v[i]);
  return f;
}

inline bf16* as_bf16(DeviceBuffer<uint16_t>& b) { return reinterpret_cast<bf16*>(b.data()); }

// ‖out − ref‖ / ‖ref‖; infinity when any output is not finite (unwritten, or NaN).
inline double rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  EXPECT_EQ(out.size(), ref.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (double(out[i]) - ref[i]) * (double(out[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline void report(const std::string& op, const std::string& what, double err, double tolerance) {
  std::printf("[ CUDA ] %-10s %-44s rel_err %.3e  %s\n", op.c_str(), what.c_str(), err,
              err <= tolerance ? "ok" : "FAIL");
  std::fflush(stdout);
  EXPECT_LE(err, tolerance) << op << " " << what;
}

inline void sync() { TIDE_CUDA_CHECK(cudaDeviceSynchronize()); }

// y [n, out] = x [n, in] · w [out, in]ᵀ through cpu::matmul, the CPU twin of every GEMM.
inline std::vector<float> matmul_ref(const std::vector<float>& x, int64_t n, const std::vector<float>& w, int64_t out,
                                     int64_t in) {
  WeightMatrix m;
  m.dtype = DType::F32;
  m.rows = out;
  m.cols = in;
  m.data = w.data();
  std::vector<float> y(n * out);
  cpu::matmul(x.data(), n, m, y.data());
  return y;
}

// The first row of each expert when the experts' rows lie back to back, as moe_group_by_expert
// lays them out; `total` gets the rows of all.
inline std::vector<int32_t> expert_offsets(const std::vector<int32_t>& counts, int64_t& total) {
  std::vector<int32_t> offsets;
  total = 0;
  for (int32_t n : counts) {
    offsets.push_back(static_cast<int32_t>(total));
    total += n;
  }
  return offsets;
}

// An output poisoned with 0xff bytes before the kernel ran, cut to its first `elements`: whatever
// lies past them must still be poison (nothing wrote past the rows it owns).
inline std::vector<uint16_t> expect_untouched_past(std::vector<uint16_t> y, std::size_t elements,
                                                   const std::string& what) {
  EXPECT_TRUE(std::all_of(y.begin() + static_cast<std::ptrdiff_t>(elements), y.end(),
                          [](uint16_t v) { return v == 0xffff; }))
      << what << ": an element past the output's rows was written";
  y.resize(elements);
  return y;
}

// The first n of the fp8 activations quantize_fp8_blocks writes (scales block-major
// [k / 128, scale_stride]: its padded_rows, n where none), widened.
inline std::vector<float> dequantize_rows(const std::vector<uint8_t>& q, const std::vector<float>& scales, int64_t n,
                                          int64_t k, int64_t scale_stride = 0) {
  const int64_t stride = scale_stride > 0 ? scale_stride : n;
  std::vector<float> out(n * k);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) out[r * k + c] = fp8_e4m3_to_f32(q[r * k + c]) * scales[(c / 128) * stride + r];
  return out;
}

// Random e4m3 weights [out, in] with 128×128 block scales in [scale_lo, scale_hi) as a checkpoint
// stores them (weight_scale_inv [ceil(out / 128), in / 128]), and W = w · scale widened.
struct Fp8Weights {
  std::vector<uint8_t> q;
  std::vector<float> scales;
  std::vector<float> dequantized;
};
inline Fp8Weights random_fp8_weights(int64_t out, int64_t in, std::mt19937& rng, float scale_lo, float scale_hi) {
  Fp8Weights w;
  w.q.resize(out * in);
  for (auto& b : w.q) b = static_cast<uint8_t>(rng() % 0x7f) | static_cast<uint8_t>(rng() & 0x80);  // no NaN
  const int64_t scale_rows = (out + 127) / 128, scale_cols = in / 128;
  std::uniform_real_distribution<float> scale(scale_lo, scale_hi);
  w.scales.resize(scale_rows * scale_cols);
  for (auto& s : w.scales) s = scale(rng);
  w.dequantized.resize(out * in);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c)
      w.dequantized[o * in + c] = fp8_e4m3_to_f32(w.q[o * in + c]) * w.scales[(o / 128) * scale_cols + c / 128];
  return w;
}

// One sequence's paged cache of `entry`-wide bf16 entries: the blocks its context needs, shuffled
// among three more that hold NaN (an attention that reads past its table gives NaN).
struct PagedContext {
  PagedContext(int context, int block_size, int64_t entry, std::mt19937& rng) : entry(entry), block_size(block_size) {
    const int blocks = (context + block_size - 1) / block_size, num_blocks = blocks + 3;
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    table.assign(physical.begin(), physical.begin() + blocks);
    cache = random_bf16(static_cast<std::size_t>(num_blocks) * block_size * entry, rng);
    for (int i = blocks; i < num_blocks; ++i)
      std::fill_n(cache.begin() + static_cast<std::ptrdiff_t>(physical[i]) * block_size * entry, block_size * entry,
                  uint16_t{0xffff});
  }
  // Positions 0..context-1's entries in order, widened.
  std::vector<float> gathered(int context) const {
    std::vector<float> out(static_cast<std::size_t>(context) * entry);
    for (int p = 0; p < context; ++p)
      for (int64_t d = 0; d < entry; ++d)
        out[static_cast<std::size_t>(p) * entry + d] =
            bf16_to_f32(cache[(static_cast<std::size_t>(table[p / block_size]) * block_size + p % block_size) * entry + d]);
    return out;
  }
  int64_t entry;
  int block_size;
  std::vector<int32_t> table;
  std::vector<uint16_t> cache;
};

}  // namespace tide::cuda
