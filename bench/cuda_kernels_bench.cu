// Kernel roofline on the GPU: the two ceilings (HBM copy bandwidth, cuBLASLt bf16 GEMM rate), the
// MLA decode kernel, the grouped expert GEMMs and the decode-sized dense GEMMs measured against the
// copy, and the fp8 block-scaled expert GEMMs against bf16. Each number is the median of many timed
// launches (CUDA events) after warm-up, on random data; inputs are rotated among several copies
// so that no run is served from L2 (50 MB on an H200). Prints a table; --json FILE writes it.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/ceilings.h"
#include "backend/cuda/device_buffer.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"

namespace tide::cuda {
namespace {

void fill(bf16* p, std::size_t n, uint64_t seed, float scale = 1.f) { fill_uniform(p, n, seed, scale, nullptr); }

struct Row {
  std::string name;
  std::string shape;
  double ms;
  double value;
  std::string unit;
  double percent;  // of the measured ceiling; < 0 when not applicable
};

double copy_bandwidth(std::vector<Row>& rows) {
  const double gbs = measure_copy_gb_per_s();
  rows.push_back({"hbm_copy", "2 GiB d2d (read+write)", 2.0 * (std::size_t{2} << 30) / gbs / 1e6, gbs, "GB/s", -1});
  return gbs;
}

double gemm_peak(std::vector<Row>& rows) {
  const double tflops = measure_bf16_gemm_tflops();
  rows.push_back({"gemm_bf16", "8192x8192x8192 cuBLASLt", 2.0 * 8192.0 * 8192 * 8192 / tflops / 1e9, tflops, "TFLOP/s", -1});
  return tflops;
}

__global__ void fill_random_fp8(uint8_t* p, std::size_t n, uint64_t seed) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const uint64_t z = (seed + i) * 0x9e3779b97f4a7c15ull;
    p[i] = static_cast<uint8_t>((z >> 33) % 0x7f) | static_cast<uint8_t>((z >> 20) & 0x80);  // never NaN (0x7f)
  }
}

// DeepSeek-V3 expert GEMMs (hidden 7168, expert width 2048) at prefill-sized token counts, fp8
// block-scaled against bf16 on the same shape, alone and with the activation quantization before
// it (a layer pays for that unless the op before writes fp8). Percent: speed against bf16's.
void fp8_gemm_bench(std::vector<Row>& rows, int64_t m, int64_t k, int64_t n) {
  DeviceBuffer<uint16_t> x(m * k), w16(n * k), y(m * n);
  DeviceBuffer<uint8_t> w8(n * k), x8(m * k);
  DeviceBuffer<float> x_scales(m * k / 128), w_scales((n / 128) * (k / 128));
  fill(reinterpret_cast<bf16*>(x.data()), m * k, 41);
  fill(reinterpret_cast<bf16*>(w16.data()), n * k, 43, 0.05f);
  fill_random_fp8<<<1024, 256>>>(w8.data(), n * k, 47);
  TIDE_CUDA_CHECK_LAUNCH();
  TIDE_CUDA_CHECK(cudaMemset(w_scales.data(), 0, w_scales.bytes()));  // values do not change the speed
  Gemm gemm;
  auto* xb = reinterpret_cast<bf16*>(x.data());
  auto* yb = reinterpret_cast<bf16*>(y.data());
  const double bf16_ms = median_ms(3, 20, [&](int) {
    gemm.bf16_nt(xb, m, reinterpret_cast<bf16*>(w16.data()), n, k, yb, nullptr);
  });
  const double quantized_ms = median_ms(3, 20, [&](int) {
    quantize_fp8_blocks(xb, m, k, x8.data(), x_scales.data(), m, nullptr);
    gemm.fp8_block_nt(x8.data(), x_scales.data(), m, w8.data(), w_scales.data(), n, k, yb, nullptr);
  });
  // The GEMM alone: what a layer gets when the op before it writes fp8 itself.
  const double gemm_ms = median_ms(3, 20, [&](int) {
    gemm.fp8_block_nt(x8.data(), x_scales.data(), m, w8.data(), w_scales.data(), n, k, yb, nullptr);
  });
  const double flop = 2.0 * m * n * k;
  const std::string shape = std::to_string(m) + "x" + std::to_string(k) + "->" + std::to_string(n);
  rows.push_back({"gemm_bf16", shape, bf16_ms, flop / (bf16_ms * 1e-3) / 1e12, "TFLOP/s", -1});
  rows.push_back({"gemm_fp8blk", shape, gemm_ms, flop / (gemm_ms * 1e-3) / 1e12, "TFLOP/s", 100.0 * bf16_ms / gemm_ms});
  rows.push_back({"gemm_fp8blk", shape + " +quantize", quantized_ms, flop / (quantized_ms * 1e-3) / 1e12, "TFLOP/s",
                  100.0 * bf16_ms / quantized_ms});
}

// An expert's second half as a layer runs it: SiLU·mul of the gate/up output, then the down
// projection (V3: 2048 → 7168). bf16: silu_mul then the bf16 GEMM; fp8: the fused SiLU·mul +
// quantization then the block-scaled GEMM. Percent: the fp8 path's speed against bf16's.
void expert_down_bench(std::vector<Row>& rows, int64_t m) {
  constexpr int64_t inter = 2048, hidden = 7168;
  DeviceBuffer<uint16_t> gate_up(m * 2 * inter), mid(m * inter), w16(hidden * inter), y(m * hidden);
  DeviceBuffer<uint8_t> w8(hidden * inter), q(m * inter);
  DeviceBuffer<float> q_scales(m * inter / 128), w_scales((hidden / 128) * (inter / 128));
  fill(reinterpret_cast<bf16*>(gate_up.data()), gate_up.size(), 53);
  fill(reinterpret_cast<bf16*>(w16.data()), w16.size(), 59, 0.05f);
  fill_random_fp8<<<1024, 256>>>(w8.data(), w8.size(), 61);
  TIDE_CUDA_CHECK_LAUNCH();
  TIDE_CUDA_CHECK(cudaMemset(w_scales.data(), 0, w_scales.bytes()));
  Gemm gemm;
  auto* gu = reinterpret_cast<bf16*>(gate_up.data());
  auto* yb = reinterpret_cast<bf16*>(y.data());
  const double bf16_ms = median_ms(3, 20, [&](int) {
    silu_mul(gu, m, inter, reinterpret_cast<bf16*>(mid.data()), nullptr);
    gemm.bf16_nt(reinterpret_cast<bf16*>(mid.data()), m, reinterpret_cast<bf16*>(w16.data()), hidden, inter, yb, nullptr);
  });
  const double fp8_ms = median_ms(3, 20, [&](int) {
    silu_mul_quantize_fp8_blocks(gu, m, inter, q.data(), q_scales.data(), m, nullptr);
    gemm.fp8_block_nt(q.data(), q_scales.data(), m, w8.data(), w_scales.data(), hidden, inter, yb, nullptr);
  });
  const double flop = 2.0 * m * hidden * inter;
  const std::string shape = std::to_string(m) + "x2048->7168 silu*mul+GEMM";
  rows.push_back({"expert_down", shape + " bf16", bf16_ms, flop / (bf16_ms * 1e-3) / 1e12, "TFLOP/s", -1});
  rows.push_back({"expert_down", shape + " fp8", fp8_ms, flop / (fp8_ms * 1e-3) / 1e12, "TFLOP/s",
                  100.0 * bf16_ms / fp8_ms});
}

// An expert layer's first half: the post-attention RMSNorm of the hidden state (7168), then the
// gate and up projections as one GEMM (7168 → 2 × 2048). bf16: rms_norm then the bf16 GEMM;
// fp8: the norm writing fp8 blocks, then the block-scaled GEMM. Percent: fp8's speed against bf16's.
void expert_up_bench(std::vector<Row>& rows, int64_t m) {
  constexpr int64_t hidden = 7168, out = 2 * 2048;
  DeviceBuffer<uint16_t> x(m * hidden), norm_w(hidden), normed(m * hidden), w16(out * hidden), y(m * out);
  DeviceBuffer<uint8_t> w8(out * hidden), q(m * hidden);
  DeviceBuffer<float> q_scales(m * hidden / 128), w_scales((out / 128) * (hidden / 128));
  fill(reinterpret_cast<bf16*>(x.data()), x.size(), 67);
  fill(reinterpret_cast<bf16*>(norm_w.data()), norm_w.size(), 71);
  fill(reinterpret_cast<bf16*>(w16.data()), w16.size(), 73, 0.05f);
  fill_random_fp8<<<1024, 256>>>(w8.data(), w8.size(), 79);
  TIDE_CUDA_CHECK_LAUNCH();
  TIDE_CUDA_CHECK(cudaMemset(w_scales.data(), 0, w_scales.bytes()));
  Gemm gemm;
  auto* xb = reinterpret_cast<bf16*>(x.data());
  auto* nw = reinterpret_cast<bf16*>(norm_w.data());
  auto* yb = reinterpret_cast<bf16*>(y.data());
  const double bf16_ms = median_ms(3, 20, [&](int) {
    rms_norm(xb, nullptr, m, hidden, nw, 1e-6f, reinterpret_cast<bf16*>(normed.data()), nullptr);
    gemm.bf16_nt(reinterpret_cast<bf16*>(normed.data()), m, reinterpret_cast<bf16*>(w16.data()), out, hidden, yb, nullptr);
  });
  const double fp8_ms = median_ms(3, 20, [&](int) {
    rms_norm_quantize_fp8_blocks(xb, nullptr, m, hidden, nw, 1e-6f, q.data(), q_scales.data(), nullptr);
    gemm.fp8_block_nt(q.data(), q_scales.data(), m, w8.data(), w_scales.data(), out, hidden, yb, nullptr);
  });
  const double flop = 2.0 * m * out * hidden;
  const std::string shape = std::to_string(m) + "x7168->4096 norm+GEMM";
  rows.push_back({"expert_up", shape + " bf16", bf16_ms, flop / (bf16_ms * 1e-3) / 1e12, "TFLOP/s", -1});
  rows.push_back({"expert_up", shape + " fp8", fp8_ms, flop / (fp8_ms * 1e-3) / 1e12, "TFLOP/s",
                  100.0 * bf16_ms / fp8_ms});
}

// `experts` groups of `per_expert` rows each, back to back: the grouped GEMMs' counts and offsets.
struct UniformGroups {
  DeviceBuffer<int32_t> counts, offsets;
};
UniformGroups uniform_groups(int experts, int per_expert) {
  std::vector<int32_t> offsets(experts);
  for (int e = 0; e < experts; ++e) offsets[e] = e * per_expert;
  return {DeviceBuffer<int32_t>(std::vector<int32_t>(experts, per_expert)), DeviceBuffer<int32_t>(offsets)};
}

// The device array of per-expert pointers into `experts` matrices of `stride` elements each,
// stored back to back from `base`.
template <class T>
DeviceBuffer<const T*> expert_pointers(const T* base, int experts, std::size_t stride) {
  std::vector<const T*> p;
  for (int e = 0; e < experts; ++e) p.push_back(base + e * stride);
  return DeviceBuffer<const T*>(p);
}

// An expert's two GEMMs: gate_up (hidden -> 2 x inter) and down (inter -> hidden).
struct Projection {
  const char* name;
  int64_t out, in;
};
std::array<Projection, 2> expert_projections(int64_t hidden, int64_t inter) {
  return {Projection{"gate_up", 2 * inter, hidden}, Projection{"down", hidden, inter}};
}

// A V2-Lite MoE layer's expert GEMMs (64 experts; gate_up 2048 -> 2 x 1408, down 1408 -> 2048) with
// `per_expert` rows each, as a decode batch spreads them (batch 256 x 6 choices: 24 each): every
// expert's weights are read once. Two weight sets in turn, each far past L2. Percent: of the copy.
void moe_grouped_gemm_bench(std::vector<Row>& rows, int per_expert, double copy_gbs) {
  constexpr int kExperts = 64;
  constexpr int64_t kHidden = 2048, kInter = 1408;
  const int64_t total = int64_t{kExperts} * per_expert;
  const UniformGroups groups = uniform_groups(kExperts, per_expert);
  for (const auto& [name, out, in] : expert_projections(kHidden, kInter)) {
    DeviceBuffer<uint16_t> x(total * in), y(total * out);
    fill(reinterpret_cast<bf16*>(x.data()), x.size(), 83);
    std::vector<DeviceBuffer<uint16_t>> sets;
    std::vector<DeviceBuffer<const bf16*>> pointers;
    for (int s = 0; s < 2; ++s) {
      sets.emplace_back(static_cast<std::size_t>(kExperts) * out * in);
      fill(reinterpret_cast<bf16*>(sets.back().data()), sets.back().size(), 89 + s, 0.05f);
      pointers.push_back(expert_pointers(reinterpret_cast<const bf16*>(sets.back().data()), kExperts, out * in));
    }
    const double ms = median_ms(3, 20, [&, out = out, in = in](int i) {
      moe_grouped_gemm(reinterpret_cast<bf16*>(x.data()), nullptr, groups.offsets.data(), groups.counts.data(),
                       kExperts, pointers[i % 2].data(), out, in, reinterpret_cast<bf16*>(y.data()), nullptr);
    });
    const double bytes = 2.0 * (kExperts * out * in + total * (in + out));
    const double gbs = bytes / (ms * 1e-3) / 1e9;
    const std::string shape = std::string(name) + " 64 experts x " + std::to_string(per_expert) + " rows " +
                              std::to_string(in) + "->" + std::to_string(out);
    rows.push_back({"moe_ggemm", shape, ms, gbs, "GB/s", 100.0 * gbs / copy_gbs});
  }
}

// DeepSeek-V3's routed experts (256; gate_up 7168 -> 2 x 2048, down 2048 -> 7168) with `per_expert`
// rows each, as a step of 1,024 tokens spreads them (x 8 choices / 256: 32 each): bf16 weights
// through moe_grouped_gemm, e4m3 ones with their block scales through moe_grouped_gemm_fp8. Each
// set of weights is gigabytes, far past L2. Rate: the fp8 kernel's weight bytes a second; percent:
// of the copy. The shape column also gives fp8's speed against bf16's.
void moe_grouped_gemm_v3_bench(std::vector<Row>& rows, int per_expert, double copy_gbs) {
  constexpr int kExperts = 256;
  constexpr int64_t kHidden = 7168, kInter = 2048;
  const int64_t total = int64_t{kExperts} * per_expert;
  const UniformGroups groups = uniform_groups(kExperts, per_expert);
  for (const auto& [name, out, in] : expert_projections(kHidden, kInter)) {
    const std::size_t per_weight = static_cast<std::size_t>(out) * in;
    DeviceBuffer<uint16_t> x(total * in), y(total * out);
    fill(reinterpret_cast<bf16*>(x.data()), x.size(), 97);
    DeviceBuffer<uint8_t> x8(total * in);
    DeviceBuffer<float> x_scales(total * (in / 128));
    quantize_fp8_blocks(reinterpret_cast<bf16*>(x.data()), total, in, x8.data(), x_scales.data(), total, nullptr);
    double bf16_ms = 0;
    {
      DeviceBuffer<uint16_t> w(kExperts * per_weight);
      fill(reinterpret_cast<bf16*>(w.data()), w.size(), 101, 0.05f);
      const auto pointers = expert_pointers(reinterpret_cast<const bf16*>(w.data()), kExperts, per_weight);
      bf16_ms = median_ms(2, 10, [&, out = out, in = in](int) {
        moe_grouped_gemm(reinterpret_cast<bf16*>(x.data()), nullptr, groups.offsets.data(), groups.counts.data(),
                         kExperts, pointers.data(), out, in, reinterpret_cast<bf16*>(y.data()), nullptr);
      });
    }
    DeviceBuffer<uint8_t> w8(kExperts * per_weight);
    fill_random_fp8<<<1024, 256>>>(w8.data(), w8.size(), 103);
    TIDE_CUDA_CHECK_LAUNCH();
    const std::size_t scale_blocks = static_cast<std::size_t>(out / 128) * (in / 128);
    DeviceBuffer<float> w_scales(kExperts * scale_blocks);
    TIDE_CUDA_CHECK(cudaMemset(w_scales.data(), 0, w_scales.bytes()));  // values do not change the speed
    const auto pointers8 = expert_pointers<uint8_t>(w8.data(), kExperts, per_weight);
    const auto scale_pointers = expert_pointers<float>(w_scales.data(), kExperts, scale_blocks);
    const double fp8_ms = median_ms(2, 10, [&, out = out, in = in](int) {
      moe_grouped_gemm_fp8(x8.data(), x_scales.data(), total, nullptr, groups.offsets.data(), groups.counts.data(),
                           kExperts, pointers8.data(), scale_pointers.data(), out, in,
                           reinterpret_cast<bf16*>(y.data()), nullptr);
    });
    const double bytes = static_cast<double>(kExperts) * per_weight + total * (in + 2.0 * out);
    const double gbs = bytes / (fp8_ms * 1e-3) / 1e9;
    char speedup[32];
    std::snprintf(speedup, sizeof speedup, " %.2fx bf16", bf16_ms / fp8_ms);
    const std::string shape = std::string(name) + " 256 x " + std::to_string(per_expert) + " rows fp8" + speedup;
    rows.push_back({"moe_fp8_v3", shape, fp8_ms, gbs, "GB/s", 100.0 * gbs / copy_gbs});
  }
}

// A long prefill's routed experts on V2-Lite (64 experts, 768 rows each: 8,192 tokens x 6 choices)
// as one moe_grouped_gemm_wide launch, against one cuBLASLt GEMM per expert in turn on one
// stream. Rate: the grouped kernel's TFLOP/s; percent: of the measured bf16 peak. The shape
// column gives cuBLASLt's rate on the same work.
void moe_wide_bench(std::vector<Row>& rows, double peak_tflops) {
  constexpr int kExperts = 64, kPerExpert = 768;
  constexpr int64_t kHidden = 2048, kInter = 1408, kTotal = int64_t{kExperts} * kPerExpert;
  const UniformGroups groups = uniform_groups(kExperts, kPerExpert);
  Gemm gemm;
  for (const auto& [name, out, in] : expert_projections(kHidden, kInter)) {
    DeviceBuffer<uint16_t> x(kTotal * in), y(kTotal * out), w(kExperts * out * in);
    fill(reinterpret_cast<bf16*>(x.data()), x.size(), 107);
    fill(reinterpret_cast<bf16*>(w.data()), w.size(), 109, 0.05f);
    const auto* wb = reinterpret_cast<const bf16*>(w.data());
    const auto pointers = expert_pointers(wb, kExperts, out * in);
    auto* xb = reinterpret_cast<bf16*>(x.data());
    auto* yb = reinterpret_cast<bf16*>(y.data());
    const double grouped_ms = median_ms(2, 10, [&, out = out, in = in](int) {
      moe_grouped_gemm_wide(xb, nullptr, groups.offsets.data(), groups.counts.data(), kExperts, kTotal,
                            pointers.data(), out, in, yb, nullptr);
    });
    const double cublas_ms = median_ms(2, 10, [&, out = out, in = in](int) {
      for (int e = 0; e < kExperts; ++e)
        gemm.bf16_nt(xb + e * kPerExpert * in, kPerExpert, wb + e * out * in, out, in, yb + e * kPerExpert * out,
                     nullptr);
    });
    const double flop = 2.0 * kTotal * out * in;
    const double tflops = flop / (grouped_ms * 1e-3) / 1e12;
    char shape[96];
    std::snprintf(shape, sizeof shape, "%s 64 x 768 rows %lld->%lld (cuBLASLt %.0f)", name, static_cast<long long>(in),
                  static_cast<long long>(out), flop / (cublas_ms * 1e-3) / 1e12);
    rows.push_back({"moe_wide", shape, grouped_ms, tflops, "TFLOP/s", 100.0 * tflops / peak_tflops});
  }
}

// Decode-sized dense GEMMs (n rows) as Gemm runs them (gemv_nt), on V2-Lite's projection shapes;
// enough weight copies in turn to stay out of L2. Percent: of the copy bandwidth.
void gemv_bench(std::vector<Row>& rows, int64_t n, int64_t out, int64_t in, double copy_gbs) {
  const std::size_t elements = static_cast<std::size_t>(out) * in;
  const int sets = static_cast<int>(std::max<std::size_t>(2, (std::size_t{256} << 20) / (2 * elements)));
  std::vector<DeviceBuffer<uint16_t>> w;
  for (int s = 0; s < sets; ++s) {
    w.emplace_back(elements);
    fill(reinterpret_cast<bf16*>(w.back().data()), elements, 97 + s, 0.05f);
  }
  DeviceBuffer<uint16_t> x(n * in), y(n * out);
  fill(reinterpret_cast<bf16*>(x.data()), x.size(), 7);
  Gemm gemm;
  const double ms = median_ms(3, 50, [&](int i) {
    gemm.bf16_nt(reinterpret_cast<bf16*>(x.data()), n, reinterpret_cast<bf16*>(w[i % sets].data()), out, in,
                 reinterpret_cast<bf16*>(y.data()), nullptr);
  });
  const double gbs = 2.0 * elements / (ms * 1e-3) / 1e9;
  rows.push_back({"gemv", "n=" + std::to_string(n) + " " + std::to_string(in) + "->" + std::to_string(out), ms, gbs,
                  "GB/s", 100.0 * gbs / copy_gbs});
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
  std::string only;  // run only the kernels whose name starts with this (the ceilings always run)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
      json = argv[++i];
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--only KERNEL]   (KERNEL: a prefix of gemm_fp8blk, expert_up, expert_down, moe_ggemm, moe_fp8_v3, moe_wide, gemv, mla_decode)\n", argv[0]);
      return 2;
    }
  }
  const auto wanted = [&](const std::string& kernel) { return kernel.compare(0, only.size(), only) == 0; };
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines reach a log even if a run is killed
  int device = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  TIDE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);

  std::vector<Row> rows;
  // Each row is printed as soon as it is measured: a long or failing run still shows what it got.
  // % is of the copy bandwidth for mla_decode, of bf16's speed on the same shape for gemm_fp8blk
  // and expert_up / expert_down.
  std::printf("\n%-12s %-44s %10s %12s %8s\n", "kernel", "shape", "median ms", "rate", "%");
  std::size_t printed = 0;
  auto print_new = [&] {
    for (; printed < rows.size(); ++printed) {
      const Row& r = rows[printed];
      char rate[32], pct[16] = "";
      std::snprintf(rate, sizeof rate, "%.1f %s", r.value, r.unit.c_str());
      if (r.percent >= 0) std::snprintf(pct, sizeof pct, "%.1f%%", r.percent);
      std::printf("%-12s %-44s %10.4f %12s %8s\n", r.name.c_str(), r.shape.c_str(), r.ms, rate, pct);
    }
  };
  const double copy = copy_bandwidth(rows);
  const double peak = gemm_peak(rows);
  print_new();
  for (const int64_t tokens : {1024, 4096}) {
    if (!wanted("gemm_fp8blk")) break;
    fp8_gemm_bench(rows, tokens, 7168, 2048);  // an expert's gate or up projection
    fp8_gemm_bench(rows, tokens, 2048, 7168);  // its down projection
    print_new();
  }
  for (const int64_t tokens : {1024, 4096}) {
    if (wanted("expert_up")) expert_up_bench(rows, tokens);
    if (wanted("expert_down")) expert_down_bench(rows, tokens);
    print_new();
  }
  if (wanted("moe_ggemm")) {
    for (const int per_expert : {6, 24}) moe_grouped_gemm_bench(rows, per_expert, copy);
    print_new();
  }
  if (wanted("moe_fp8_v3")) {
    for (const int per_expert : {8, 32}) moe_grouped_gemm_v3_bench(rows, per_expert, copy);
    print_new();
  }
  if (wanted("moe_wide")) {
    moe_wide_bench(rows, peak);
    print_new();
  }
  if (wanted("gemv")) {
    for (int64_t n = 1; n <= kGemvMaxRows; ++n)
      for (const auto& [out, in] : {std::pair<int64_t, int64_t>{3072, 2048}, {2048, 2048}, {5632, 2048}, {2048, 2816},
                                    {102400, 2048}})
        gemv_bench(rows, n, out, in, copy);
    print_new();
  }
  const int sms = prop.multiProcessorCount;
  if (!wanted("mla_decode")) {
    if (json) write_json(json, rows, prop);
    return 0;
  }
  // The target shape: V2-Lite (16 heads), batch 64 × 8k context: 604 MB of latents a layer.
  mla_decode_bench(rows, "mla_decode", 64, 8192, 16, 64, 2, copy, sms);
  print_new();
  mla_decode_bench(rows, "mla_decode", 8, 8192, 16, 64, 4, copy, sms);
  print_new();
  mla_decode_bench(rows, "mla_decode", 1, 32768, 16, 64, 8, copy, sms);
  print_new();
  // V3's 128 heads on one GPU: 8 head tiles re-read each chunk (from L2 when they run together).
  mla_decode_bench(rows, "mla_decode", 32, 4096, 128, 64, 4, copy, sms);
  print_new();
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
