#pragma once
// What the CUDA op tests share: random bf16 inputs, the relative error against a CPU twin, one
// report line per case, and skipping on machines without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"
#include "tensor/dtype.h"

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

}  // namespace tide::cuda
