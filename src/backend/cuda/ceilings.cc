#include "backend/cuda/ceilings.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {

double median_ms(int warmup, int reps, const std::function<void(int)>& run) {
  for (int i = 0; i < warmup; ++i) run(i);
  TIDE_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  TIDE_CUDA_CHECK(cudaEventCreate(&start));
  TIDE_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    TIDE_CUDA_CHECK(cudaEventRecord(start));
    run(i);
    TIDE_CUDA_CHECK(cudaEventRecord(stop));
    TIDE_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    TIDE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double measure_copy_gb_per_s() {
  const std::size_t bytes = std::size_t{2} << 30;  // 2 GiB each way, 40x the L2
  DeviceBuffer<unsigned char> a(bytes), b(bytes);
  TIDE_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
  TIDE_CUDA_CHECK(cudaMemset(b.data(), 2, bytes));
  const double ms = median_ms(3, 20, [&](int i) {
    TIDE_CUDA_CHECK(cudaMemcpyAsync(i % 2 ? a.data() : b.data(), i % 2 ? b.data() : a.data(), bytes,
                                    cudaMemcpyDeviceToDevice));
  });
  return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

double measure_bf16_gemm_tflops() {
  const int64_t m = 8192, n = 8192, k = 8192;
  constexpr int kSets = 2;  // 2 × 3 × 128 MiB: no repeat hits L2
  std::vector<DeviceBuffer<bf16>> x, w, y;
  for (int s = 0; s < kSets; ++s) {
    x.emplace_back(m * k);
    w.emplace_back(n * k);
    y.emplace_back(m * n);
    fill_uniform(x.back().data(), m * k, 11 + s, 1.f, nullptr);
    fill_uniform(w.back().data(), n * k, 23 + s, 0.05f, nullptr);
  }
  Gemm gemm;
  const double ms = median_ms(3, 10, [&](int i) {
    const int s = i % kSets;
    gemm.bf16_nt(x[s].data(), m, w[s].data(), n, k, y[s].data(), nullptr);
  });
  return 2.0 * m * n * k / (ms * 1e-3) / 1e12;
}

double measure_fp8_gemm_tflops() {
  const int64_t m = 8192, n = 8192, k = 8192;
  constexpr int kSets = 2;  // 2 × (2 × 64 MiB + 128 MiB): no repeat hits L2
  std::vector<DeviceBuffer<uint8_t>> x, w;
  std::vector<DeviceBuffer<bf16>> y;
  for (int s = 0; s < kSets; ++s) {
    x.emplace_back(m * k);
    w.emplace_back(n * k);
    y.emplace_back(m * n);
    fill_uniform_e4m3(x.back().data(), m * k, 31 + s, nullptr);
    fill_uniform_e4m3(w.back().data(), n * k, 37 + s, nullptr);
  }
  // Scales of the magnitudes a quantized activation and a checkpoint's weight have.
  const DeviceBuffer<float> x_scales(std::vector<float>(static_cast<std::size_t>(m * k / 128), 1.f / 448));
  const DeviceBuffer<float> w_scales(std::vector<float>(static_cast<std::size_t>(n / 128 * (k / 128)), 1e-4f));
  Gemm gemm;
  const double ms = median_ms(3, 10, [&](int i) {
    const int s = i % kSets;
    gemm.fp8_block_nt(x[s].data(), x_scales.data(), m, w[s].data(), w_scales.data(), n, k, y[s].data(), nullptr);
  });
  return 2.0 * m * n * k / (ms * 1e-3) / 1e12;
}

}  // namespace tide::cuda
