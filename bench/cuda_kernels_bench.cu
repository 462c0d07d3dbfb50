// Kernel roofline on the GPU: the two ceilings (HBM copy bandwidth, cuBLASLt bf16 GEMM rate) and
// the MLA decode kernel measured against the copy. Each number is the median of many timed
// launches (CUDA events) after warm-up, on random data; inputs are rotated among several copies
// so that no run is served from L2 (50 MB on an H200). Prints a table; --json FILE writes it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

__global__ void fill_random_bf16(bf16* p, std::size_t n, uint64_t seed, float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * (1.f / 16777216.f);  // [0, 1)
    p[i] = __float2bfloat16((u * 2.f - 1.f) * scale + (u == 0.5f ? 1e-3f : 0.f));
  }
}

void fill(bf16* p, std::size_t n, uint64_t seed, float scale = 1.f) {
  fill_random_bf16<<<1024, 256>>>(p, n, seed, scale);
  TIDE_CUDA_CHECK_LAUNCH();
}

// Median milliseconds of `reps` launches of run(i), each timed alone with events.
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

struct Row {
  std::string name;
  std::string shape;
  double ms;
  double value;
  std::string unit;
  double percent;  // of the measured ceiling; < 0 when not applicable
};

double copy_bandwidth(std::vector<Row>& rows) {
  const std::size_t bytes = std::size_t{2} << 30;  // 2 GiB each way, 40x the L2
  DeviceBuffer<unsigned char> a(bytes), b(bytes);
  TIDE_CUDA_CHECK(cudaMemset(a.data(), 1, bytes));
  TIDE_CUDA_CHECK(cudaMemset(b.data(), 2, bytes));
  const double ms = median_ms(3, 20, [&](int i) {
    TIDE_CUDA_CHECK(cudaMemcpyAsync(i % 2 ? a.data() : b.data(), i % 2 ? b.data() : a.data(), bytes,
                                    cudaMemcpyDeviceToDevice));
  });
  const double gbs = 2.0 * bytes / (ms * 1e-3) / 1e9;
  rows.push_back({"hbm_copy", "2 GiB d2d (read+write)", ms, gbs, "GB/s", -1});
  return gbs;
}

double gemm_peak(std::vector<Row>& rows) {
  const int64_t m = 8192, n = 8192, k = 8192;
  constexpr int kSets = 2;  // 2 × 3 × 128 MiB: no repeat hits L2
  std::vector<DeviceBuffer<uint16_t>> x, w, y;
  for (int s = 0; s < kSets; ++s) {
    x.emplace_back(m * k);
    w.emplace_back(n * k);
    y.emplace_back(m * n);
    fill(reinterpret_cast<bf16*>(x.back().data()), m * k, 11 + s);
    fill(reinterpret_cast<bf16*>(w.back().data()), n * k, 23 + s, 0.05f);
  }
  Gemm gemm;
  const double ms = median_ms(3, 10, [&](int i) {
    const int s = i % kSets;
    gemm.bf16_nt(reinterpret_cast<bf16*>(x[s].data()), m, reinterpret_cast<bf16*>(w[s].data()), n, k,
                 reinterpret_cast<bf16*>(y[s].data()), nullptr);
  });
  const double tflops = 2.0 * m * n * k / (ms * 1e-3) / 1e12;
  rows.push_back({"gemm_bf16", "8192x8192x8192 cuBLASLt", ms, tflops, "TFLOP/s", -1});
  return tflops;
}

void mla_decode_bench(std::vector<Row>& rows, const char* name, int batch, int context, int heads, int block_size,
                      int sets, double copy_gbs, int sms) {
  const int blocks_per_seq = (context + block_size - 1) / block_size;
  const int num_blocks = batch * blocks_per_seq;
  const std::size_t cache_elems = static_cast<std::size_t>(num_blocks) * block_size * kMlaEntryDim;
  // Several layers' caches, used in turn, as a decode step would walk the layers.
  std::vector<DeviceBuffer<uint16_t>> caches;
  for (int s = 0; s < sets; ++s) {
    caches.emplace_back(cache_elems);
    fill(reinterpret_cast<bf16*>(caches.back().data()), cache_elems, 101 + s);
  }
  std::vector<int32_t> physical(num_blocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), std::mt19937(7));  // pages scattered, as in service
  DeviceBuffer<int32_t> tables(physical), lens(std::vector<int32_t>(batch, context));
  DeviceBuffer<uint16_t> q(static_cast<std::size_t>(batch) * heads * kMlaEntryDim),
      out(static_cast<std::size_t>(batch) * heads * kMlaLatentDim);
  fill(reinterpret_cast<bf16*>(q.data()), q.size(), 5);
  MlaDecodeArgs args{.q = reinterpret_cast<bf16*>(q.data()), .cache = nullptr, .block_tables = tables.data(),
                     .block_table_stride = blocks_per_seq, .context_lens = lens.data(), .batch = batch,
                     .heads = heads, .block_size = block_size, .max_context = context,
                     .scale = 1.f / std::sqrt(192.f), .out = reinterpret_cast<bf16*>(out.data())};
  const MlaDecodePlan plan = plan_mla_decode(args, sms);
  DeviceBuffer<unsigned char> workspace(mla_decode_workspace_bytes(args, plan));
  const double ms = median_ms(3, 20, [&](int i) {
    args.cache = reinterpret_cast<bf16*>(caches[i % sets].data());
    mla_decode(args, plan, workspace.data(), workspace.bytes(), nullptr);
  });
  const double bytes = static_cast<double>(batch) * context * kMlaEntryDim * 2;
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  char shape[160];
  std::snprintf(shape, sizeof shape, "B=%d ctx=%d H=%d bs=%d split %dx%d", batch, context, heads, block_size,
                plan.splits, plan.chunk);
  rows.push_back({name, shape, ms, gbs, "GB/s", 100.0 * gbs / copy_gbs});
}

void write_json(const char* path, const std::vector<Row>& rows, const cudaDeviceProp& prop) {
  FILE* f = std::fopen(path, "w");
  if (!f) throw Error(std::string("cannot write ") + path);
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"sm_count\": %d,\n  \"l2_bytes\": %d,\n  \"results\": [\n", prop.name,
               prop.multiProcessorCount, prop.l2CacheSize);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::fprintf(f, "    {\"name\": \"%s\", \"shape\": \"%s\", \"median_ms\": %.6f, \"value\": %.3f, \"unit\": \"%s\"",
                 r.name.c_str(), r.shape.c_str(), r.ms, r.value, r.unit.c_str());
    if (r.percent >= 0) std::fprintf(f, ", \"percent_of_copy\": %.2f", r.percent);
    std::fprintf(f, "}%s\n", i + 1 < rows.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

int run(int argc, char** argv) {
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines reach a log even if a run is killed
  int device = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  TIDE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);

  std::vector<Row> rows;
  const double copy = copy_bandwidth(rows);
  gemm_peak(rows);
  const int sms = prop.multiProcessorCount;
  // The target shape: V2-Lite (16 heads), batch 64 × 8k context: 604 MB of latents a layer.
  mla_decode_bench(rows, "mla_decode", 64, 8192, 16, 64, 2, copy, sms);
  mla_decode_bench(rows, "mla_decode", 8, 8192, 16, 64, 4, copy, sms);
  mla_decode_bench(rows, "mla_decode", 1, 32768, 16, 64, 8, copy, sms);
  // V3's 128 heads on one GPU: 8 head tiles re-read each chunk (from L2 when they run together).
  mla_decode_bench(rows, "mla_decode", 32, 4096, 128, 64, 4, copy, sms);

  std::printf("\n%-12s %-44s %10s %12s %8s\n", "kernel", "shape", "median ms", "rate", "% copy");
  for (const Row& r : rows) {
    char rate[32], pct[16] = "";
    std::snprintf(rate, sizeof rate, "%.1f %s", r.value, r.unit.c_str());
    if (r.percent >= 0) std::snprintf(pct, sizeof pct, "%.1f%%", r.percent);
    std::printf("%-12s %-44s %10.4f %12s %8s\n", r.name.c_str(), r.shape.c_str(), r.ms, rate, pct);
  }
  if (json) write_json(json, rows, prop);
  return 0;
}

}  // namespace
}  // namespace tide::cuda

int main(int argc, char** argv) {
  try {
    return tide::cuda::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_kernels_bench: %s\n", e.what());
    return 1;
  }
}
