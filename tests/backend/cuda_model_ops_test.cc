// The CUDA ops a whole forward pass adds around the kernels of cuda_ops_test.cc, each against its
// CPU twin on awkward sizes: row gathers and scatters (embedding lookup, cache writes), RMSNorm
// over strided rows, MLA attention for any widths (prefill rows included), and the fp32-output,
// decode-sized and batched GEMMs. The MoE ops are in cuda_moe_ops_test.cc. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "backend/cpu/ops.h"
#include "backend/cuda/gemm.h"
#include "cuda_test_support.h"
#include "tensor/paged_kv_cache.h"

namespace tide::cuda {
namespace {

std::vector<int32_t> random_indices(std::size_t n, int32_t bound, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, bound - 1);
  std::vector<int32_t> v(n);
  for (auto& i : v) i = dist(rng);
  return v;
}

TEST(CudaModelOps, GatherAndScatterRows) {
  REQUIRE_DEVICE();
  for (int64_t dim : {1, 7, 40, 576, 7168})
    for (int64_t n : {1, 5, 300})
      for (int64_t pad : {0, 3}) {  // pad: strides past the row, and (when odd) unaligned rows
        const int64_t stride = dim + pad, src_rows = 37;
        const std::string what = "dim=" + std::to_string(dim) + " n=" + std::to_string(n) + " stride=" +
                                 std::to_string(stride);
        auto rng = rng_for("rows " + what);
        const auto src = random_bf16(src_rows * stride, rng);
        const auto idx = random_indices(n, static_cast<int32_t>(src_rows), rng);
        DeviceBuffer<uint16_t> dsrc(src), dgathered(n * stride);
        DeviceBuffer<int32_t> didx(idx);
        dgathered.fill_bytes(0xff);
        gather_rows(as_bf16(dsrc), stride, didx.data(), n, dim, as_bf16(dgathered), stride, nullptr);
        sync();
        const auto gathered = dgathered.download();
        bool same = true;
        for (int64_t i = 0; i < n; ++i)
          same &= std::equal(gathered.begin() + i * stride, gathered.begin() + i * stride + dim,
                             src.begin() + idx[i] * stride);
        report("gather", what, same ? 0.0 : 1.0, 0.0);

        // Scatter to distinct rows (a cache write): every addressed row gets its source row,
        // every other row keeps its poison.
        std::vector<int32_t> targets(src_rows * 2);
        std::iota(targets.begin(), targets.end(), 0);
        std::shuffle(targets.begin(), targets.end(), rng);
        const int64_t m = std::min<int64_t>(n, src_rows);
        targets.resize(m);
        DeviceBuffer<int32_t> dtargets(targets);
        DeviceBuffer<uint16_t> dout(src_rows * 2 * stride);
        dout.fill_bytes(0xff);
        scatter_rows(as_bf16(dsrc), stride, m, dim, dtargets.data(), as_bf16(dout), stride, nullptr);
        sync();
        const auto out = dout.download();
        std::vector<uint16_t> want(out.size(), 0xffff);
        for (int64_t i = 0; i < m; ++i)
          std::copy_n(src.begin() + i * stride, dim, want.begin() + targets[i] * stride);
        report("scatter", what, out == want ? 0.0 : 1.0, 0.0);
      }
}

// Kernels are launched as programmatic dependents (dependent_launch.cuh): each may be placed on
// the SMs before the one before it has finished, and must wait for it before reading. A 64 MB fill
// followed at once by a one-row gather of the fill's last row, 64 times with no synchronisation:
// a gather that read early would copy the previous round's value.
TEST(CudaModelOps, DependentLaunchesReadWhatTheKernelBeforeWrote) {
  REQUIRE_DEVICE();
  constexpr int64_t kRows = 8192, kDim = 4096, kRounds = 64;
  DeviceBuffer<uint16_t> big(kRows * kDim), rows(kRounds * kDim);
  rows.fill_bytes(0xff);
  const std::vector<int32_t> last{kRows - 1};
  DeviceBuffer<int32_t> index(last);
  cudaStream_t stream = nullptr;
  TIDE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  sync();  // the poison and the index, written on the default stream, which `stream` does not wait for
  for (int64_t round = 0; round < kRounds; ++round) {
    fill_constant(as_bf16(big), big.size(), static_cast<float>(round + 1), stream);
    gather_rows(as_bf16(big), kDim, index.data(), 1, kDim, as_bf16(rows) + round * kDim, kDim, stream);
  }
  TIDE_CUDA_CHECK(cudaStreamSynchronize(stream));
  TIDE_CUDA_CHECK(cudaStreamDestroy(stream));
  const std::vector<float> got = widen(rows.download());
  int64_t stale = 0;
  for (int64_t round = 0; round < kRounds; ++round)
    for (int64_t i = 0; i < kDim; ++i) stale += got[round * kDim + i] != static_cast<float>(round + 1);
  EXPECT_EQ(stale, 0) << "elements gathered before the fill before them had finished";
}

// BatchedGemm::x_ready_early: the product reads x, written two launches back, without waiting
// for the launch between (a long fill here, as the cache write in a decode step), and waits for
// it before ending: so it sees each round's x, and a kernel after it sees the fill's writes.
TEST(CudaModelOps, EarlyBatchedGemmReadsItsInputAndEndsAfterTheLaunchBefore) {
  REQUIRE_DEVICE();
  constexpr int64_t kBig = int64_t{8192} * 4096, kIn = 64, kOut = 64, kRounds = 48;
  DeviceBuffer<uint16_t> big(kBig), x(kIn), y(kRounds * kOut), after(kRounds * kOut);
  y.fill_bytes(0xff);
  after.fill_bytes(0xff);
  const std::vector<uint16_t> ones(kIn * kOut, f32_to_bf16(1.f));
  DeviceBuffer<uint16_t> w(ones);
  const std::vector<int32_t> last{static_cast<int32_t>(kBig / kOut - 1)};
  DeviceBuffer<int32_t> index(last);
  cudaStream_t stream = nullptr;
  TIDE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  sync();
  for (int64_t round = 0; round < kRounds; ++round) {
    fill_constant(as_bf16(x), kIn, static_cast<float>(round + 1), stream);
    fill_constant(as_bf16(big), kBig, static_cast<float>(round + 1), stream);
    gemv_batched({.x = as_bf16(x), .x_ld = kIn, .x_batch_stride = 0, .w = as_bf16(w), .w_ld = kOut,
                  .w_batch_stride = 0, .w_transposed = false, .y = as_bf16(y) + round * kOut, .y_ld = kOut,
                  .y_batch_stride = 0, .n = 1, .out = kOut, .in = kIn, .batch = 1, .x_ready_early = true},
                 stream);
    gather_rows(as_bf16(big), kOut, index.data(), 1, kOut, as_bf16(after) + round * kOut, kOut, stream);
  }
  TIDE_CUDA_CHECK(cudaStreamSynchronize(stream));
  TIDE_CUDA_CHECK(cudaStreamDestroy(stream));
  const std::vector<float> products = widen(y.download()), gathered = widen(after.download());
  int64_t wrong_products = 0, stale = 0;
  for (int64_t round = 0; round < kRounds; ++round)
    for (int64_t i = 0; i < kOut; ++i) {
      wrong_products += products[round * kOut + i] != static_cast<float>(kIn * (round + 1));
      stale += gathered[round * kOut + i] != static_cast<float>(round + 1);
    }
  EXPECT_EQ(wrong_products, 0) << "products of an earlier round's x";
  EXPECT_EQ(stale, 0) << "a kernel after the early product read the fill before it had finished";
}

TEST(CudaModelOps, RmsNormStridedNormalisesThePartOfEachRowInPlace) {
  REQUIRE_DEVICE();
  for (auto [dim, stride] : {std::pair<int64_t, int64_t>{32, 40}, {128, 160}, {512, 576}, {7, 9}})
    for (int64_t n : {1, 3, 130}) {
      const std::string what = "n=" + std::to_string(n) + " dim=" + std::to_string(dim) + " of " + std::to_string(stride);
      auto rng = rng_for("rms_norm_strided " + what);
      const auto x = random_bf16(n * stride, rng), w = random_bf16(dim, rng, 1.f, 0.2f);
      DeviceBuffer<uint16_t> dx(x), dw(w);
      rms_norm_strided(as_bf16(dx), stride, n, dim, as_bf16(dw), 1e-6f, as_bf16(dx), stride, nullptr);
      sync();
      const auto out = dx.download();
      std::vector<float> ref = widen(x), wf = widen(w);
      for (int64_t i = 0; i < n; ++i) cpu::rms_norm(ref.data() + i * stride, 1, dim, wf.data(), 1e-6, ref.data() + i * stride);
      report("rms_strided", what, rel_err(widen(out), ref), kBf16Tolerance);
      bool tails_kept = true;  // elements past `dim` in each row are not touched
      for (int64_t i = 0; i < n; ++i)
        tails_kept &= std::equal(out.begin() + i * stride + dim, out.begin() + (i + 1) * stride, x.begin() + i * stride + dim);
      EXPECT_TRUE(tails_kept) << what;
    }
}

// Rope into another buffer (MLA's query rope part into its absorbed row) writes what rope in
// place would, and leaves its input as it was.
TEST(CudaModelOps, RopeIntoAnotherBufferEqualsRopeInPlace) {
  REQUIRE_DEVICE();
  for (bool interleaved : {true, false}) {
    const int64_t tokens = 5, heads = 3, head_dim = 24, rope_offset = 16, rope_dim = 8, stride = heads * head_dim + 40;
    const int64_t out_entry = 40, out_offset = 32;
    auto rng = rng_for(std::string("rope out ") + (interleaved ? "interleaved" : "neox"));
    const auto x = random_bf16(tokens * stride, rng);
    std::vector<float> cos(64 * rope_dim / 2), sin(cos.size());
    for (std::size_t i = 0; i < cos.size(); ++i) cos[i] = std::cos(0.1f * i), sin[i] = std::sin(0.1f * i);
    const std::vector<int32_t> positions = {0, 7, 3, 63, 12};
    DeviceBuffer<uint16_t> din(x), dcopy(x), dout(tokens * heads * out_entry);
    DeviceBuffer<float> dcos(cos), dsin(sin);
    DeviceBuffer<int32_t> dpos(positions);
    dout.fill_bytes(0);
    RopeArgs args{.x = as_bf16(dcopy), .tokens = tokens, .token_stride = stride, .heads = static_cast<int>(heads),
                  .head_stride = head_dim, .rope_offset = static_cast<int>(rope_offset), .rope_dim = static_cast<int>(rope_dim),
                  .positions = dpos.data(), .cos = dcos.data(), .sin = dsin.data(), .interleaved = interleaved};
    apply_rope(args, nullptr);
    args.x = as_bf16(din);
    args.out = as_bf16(dout);
    args.out_token_stride = heads * out_entry;
    args.out_head_stride = out_entry;
    args.out_offset = static_cast<int>(out_offset);
    apply_rope(args, nullptr);
    sync();
    const auto in_place = dcopy.download(), out = dout.download();
    bool same = din.download() == x;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < rope_dim; ++d)
          same &= out[(t * heads + h) * out_entry + out_offset + d] ==
                  in_place[t * stride + h * head_dim + rope_offset + d];
    report("rope_out", interleaved ? "interleaved" : "neox", same ? 0.0 : 1.0, 0.0);
  }
}

TEST(CudaModelOps, WriteLatentCacheNormsRotatesAndStoresEachToken) {
  REQUIRE_DEVICE();
  for (auto [latent, rope_dim, pad] : {std::tuple{32, 8, 96}, {512, 64, 3072}, {128, 32, 0}})
    for (bool interleaved : {true, false}) {
      const int64_t tokens = 7, entry = latent + rope_dim, stride = pad + entry, slots = 20;
      const std::string what = "latent=" + std::to_string(latent) + " rope=" + std::to_string(rope_dim) +
                               (interleaved ? " interleaved" : " neox");
      auto rng = rng_for("latent cache " + what);
      const auto rows = random_bf16(tokens * stride, rng), weight = random_bf16(latent, rng, 1.f, 0.2f);
      std::vector<float> cos(100 * rope_dim / 2), sin(cos.size());
      for (std::size_t i = 0; i < cos.size(); ++i) cos[i] = std::cos(0.37f * i), sin[i] = std::sin(0.37f * i);
      const std::vector<int32_t> positions = {0, 5, 99, 17, 3, 64, 1}, slot_of = {4, 0, 19, 7, 8, 13, 2};
      DeviceBuffer<uint16_t> dkv(rows), dw(weight), dcache(slots * entry);
      DeviceBuffer<float> dcos(cos), dsin(sin);
      DeviceBuffer<int32_t> dpos(positions), dslots(slot_of);
      dcache.fill_bytes(0xff);
      write_latent_cache({.kv = as_bf16(dkv) + pad, .kv_stride = stride, .tokens = tokens, .latent_dim = latent,
                          .rope_dim = rope_dim, .norm_weight = as_bf16(dw), .eps = 1e-6f, .positions = dpos.data(),
                          .cos = dcos.data(), .sin = dsin.data(), .interleaved = interleaved, .slots = dslots.data(),
                          .cache = as_bf16(dcache)},
                         nullptr);
      sync();
      const auto cache = widen(dcache.download());
      std::vector<float> got, want;
      const auto rf = widen(rows), wf = widen(weight);
      for (int64_t t = 0; t < tokens; ++t) {
        std::vector<float> e(rf.begin() + t * stride + pad, rf.begin() + (t + 1) * stride);
        cpu::rms_norm(e.data(), 1, latent, wf.data(), 1e-6, e.data());
        cpu::apply_rope(e.data() + latent, rope_dim, cos.data() + positions[t] * rope_dim / 2,
                        sin.data() + positions[t] * rope_dim / 2, interleaved);
        want.insert(want.end(), e.begin(), e.end());
        got.insert(got.end(), cache.begin() + slot_of[t] * entry, cache.begin() + (slot_of[t] + 1) * entry);
      }
      report("latent_kv", what, rel_err(got, want), kBf16Tolerance);
      int untouched = 0;  // slots no token writes keep their poison
      for (int64_t sl = 0; sl < slots; ++sl)
        if (std::find(slot_of.begin(), slot_of.end(), sl) == slot_of.end()) untouched += std::isnan(cache[sl * entry]);
      EXPECT_EQ(untouched, slots - tokens) << what;
    }
}

// MLA rotates each new token's query in the launch that writes its cache entry: the cache gets
// what it gets without the query, and the query's absorbed rows what apply_rope writes alone.
TEST(CudaModelOps, WriteLatentCacheWithAQueryRotatesItAsApplyRopeDoes) {
  REQUIRE_DEVICE();
  // 16 heads: four full blocks of the query's pairs; 5: a full block and a partial one.
  for (auto [heads, tokens] : {std::pair{16, 1}, {3, 9}, {128, 2}, {5, 3}})
    for (bool interleaved : {true, false}) {
      const int64_t latent = 512, rope_dim = 64, nope = 128, entry = latent + rope_dim, slots = 16;
      const int64_t q_stride = heads * (nope + rope_dim), kv_stride = entry + 8;
      const std::string what = "heads=" + std::to_string(heads) + " tokens=" + std::to_string(tokens) +
                               (interleaved ? " interleaved" : " neox");
      auto rng = rng_for("latent cache with query " + what);
      const auto q = random_bf16(tokens * q_stride, rng), kv = random_bf16(tokens * kv_stride, rng);
      const auto weight = random_bf16(latent, rng, 1.f, 0.2f);
      std::vector<float> cos(64 * rope_dim / 2), sin(cos.size());
      for (std::size_t i = 0; i < cos.size(); ++i) cos[i] = std::cos(0.21f * i), sin[i] = std::sin(0.21f * i);
      std::vector<int32_t> positions(tokens), slot_of(tokens);
      for (int64_t t = 0; t < tokens; ++t) {
        positions[t] = static_cast<int32_t>((t * 7 + 3) % 64);
        slot_of[t] = static_cast<int32_t>(t + 2);
      }
      DeviceBuffer<uint16_t> dq(q), dkv(kv), dw(weight), alone_cache(slots * entry), fused_cache(slots * entry);
      DeviceBuffer<uint16_t> alone_q(tokens * heads * entry), fused_q(tokens * heads * entry);
      DeviceBuffer<float> dcos(cos), dsin(sin);
      DeviceBuffer<int32_t> dpos(positions), dslots(slot_of);
      for (auto* b : {&alone_cache, &fused_cache, &alone_q, &fused_q}) b->fill_bytes(0xff);
      RopeArgs rope{.x = as_bf16(dq), .tokens = tokens, .token_stride = q_stride, .heads = heads,
                    .head_stride = nope + rope_dim, .rope_offset = static_cast<int>(nope),
                    .rope_dim = static_cast<int>(rope_dim), .positions = dpos.data(), .cos = dcos.data(),
                    .sin = dsin.data(), .interleaved = interleaved, .out = as_bf16(alone_q),
                    .out_token_stride = heads * entry, .out_head_stride = entry,
                    .out_offset = static_cast<int>(latent)};
      LatentCacheWrite write{.kv = as_bf16(dkv), .kv_stride = kv_stride, .tokens = tokens,
                             .latent_dim = static_cast<int>(latent), .rope_dim = static_cast<int>(rope_dim),
                             .norm_weight = as_bf16(dw), .eps = 1e-6f, .positions = dpos.data(), .cos = dcos.data(),
                             .sin = dsin.data(), .interleaved = interleaved, .slots = dslots.data(),
                             .cache = as_bf16(alone_cache)};
      apply_rope(rope, nullptr);
      write_latent_cache(write, nullptr);
      rope.out = as_bf16(fused_q);
      write.cache = as_bf16(fused_cache);
      write.query = rope;
      write_latent_cache(write, nullptr);
      sync();
      EXPECT_EQ(fused_cache.download(), alone_cache.download()) << what;
      EXPECT_EQ(fused_q.download(), alone_q.download()) << what;
      EXPECT_EQ(dq.download(), q) << what << ": the query's source rows are only read";
    }
}

// At decode sizes the absorption runs in the cache write's launch: the cache, the rotated rope
// parts and the absorbed latent parts are bit for bit those of the two launches apart.
TEST(CudaModelOps, WriteLatentCacheAndAbsorbIsTheTwoLaunchesInOne) {
  REQUIRE_DEVICE();
  for (auto [heads, tokens, nope] : {std::tuple{16, 1, 128}, {16, 2, 128}, {3, 1, 64}, {128, 2, 128}, {5, 2, 24}})
    for (bool interleaved : {true, false}) {
      const int64_t latent = 512, rope_dim = 64, value = 128, entry = latent + rope_dim, slots = 8;
      const int64_t q_stride = heads * (nope + rope_dim) + 8, kv_stride = entry + 8, kvb_rows = nope + value;
      const std::string what = "heads=" + std::to_string(heads) + " tokens=" + std::to_string(tokens) +
                               " nope=" + std::to_string(nope) + (interleaved ? " interleaved" : " neox");
      auto rng = rng_for("latent cache and absorb " + what);
      const auto q = random_bf16(tokens * q_stride, rng), kv = random_bf16(tokens * kv_stride, rng);
      const auto weight = random_bf16(latent, rng, 1.f, 0.2f), kv_b = random_bf16(heads * kvb_rows * latent, rng);
      std::vector<float> cos(64 * rope_dim / 2), sin(cos.size());
      for (std::size_t i = 0; i < cos.size(); ++i) cos[i] = std::cos(0.13f * i), sin[i] = std::sin(0.13f * i);
      const std::vector<int32_t> positions = {11, 40}, slot_of = {5, 2};
      DeviceBuffer<uint16_t> dq(q), dkv(kv), dw(weight), dkvb(kv_b);
      DeviceBuffer<uint16_t> apart_cache(slots * entry), fused_cache(slots * entry);
      DeviceBuffer<uint16_t> apart_q(tokens * heads * entry), fused_q(tokens * heads * entry);
      DeviceBuffer<float> dcos(cos), dsin(sin);
      DeviceBuffer<int32_t> dpos(positions), dslots(slot_of);
      for (auto* b : {&apart_cache, &fused_cache, &apart_q, &fused_q}) b->fill_bytes(0xff);
      const auto write_into = [&](DeviceBuffer<uint16_t>& cache, DeviceBuffer<uint16_t>& absorbed) {
        const RopeArgs rope{.x = as_bf16(dq), .tokens = tokens, .token_stride = q_stride, .heads = heads,
                            .head_stride = nope + rope_dim, .rope_offset = static_cast<int>(nope),
                            .rope_dim = static_cast<int>(rope_dim), .positions = dpos.data(), .cos = dcos.data(),
                            .sin = dsin.data(), .interleaved = interleaved, .out = as_bf16(absorbed),
                            .out_token_stride = heads * entry, .out_head_stride = entry,
                            .out_offset = static_cast<int>(latent)};
        return LatentCacheWrite{.kv = as_bf16(dkv), .kv_stride = kv_stride, .tokens = tokens,
                                .latent_dim = static_cast<int>(latent), .rope_dim = static_cast<int>(rope_dim),
                                .norm_weight = as_bf16(dw), .eps = 1e-6f, .positions = dpos.data(),
                                .cos = dcos.data(), .sin = dsin.data(), .interleaved = interleaved,
                                .slots = dslots.data(), .cache = as_bf16(cache), .query = rope};
      };
      const auto absorb_into = [&](DeviceBuffer<uint16_t>& absorbed) {
        return BatchedGemm{.x = as_bf16(dq), .x_ld = q_stride, .x_batch_stride = nope + rope_dim, .w = as_bf16(dkvb),
                           .w_ld = latent, .w_batch_stride = kvb_rows * latent, .w_transposed = false,
                           .y = as_bf16(absorbed), .y_ld = heads * entry, .y_batch_stride = entry, .n = tokens,
                           .out = latent, .in = nope, .batch = static_cast<int>(heads)};
      };
      write_latent_cache(write_into(apart_cache, apart_q), nullptr);
      gemv_batched(absorb_into(apart_q), nullptr);
      write_latent_cache_and_absorb(write_into(fused_cache, fused_q), absorb_into(fused_q), nullptr);
      sync();
      EXPECT_EQ(fused_cache.download(), apart_cache.download()) << what;
      const auto fused = fused_q.download(), apart = apart_q.download();
      EXPECT_EQ(fused, apart) << what;
      EXPECT_EQ(std::count(fused.begin(), fused.end(), uint16_t{0xffff}), 0) << what << ": every absorbed row written";
    }
  // Forms it does not take: W transposed, x read early, rows other than the cache write's tokens.
  DeviceBuffer<uint16_t> x(16 * 576), w(2 * 256 * 512), y(2 * 16 * 576), kv(2 * 576), cache(4 * 576), nw(512);
  DeviceBuffer<int32_t> ints(std::vector<int32_t>{0, 1});
  DeviceBuffer<float> table(64);
  const LatentCacheWrite write{.kv = as_bf16(kv), .kv_stride = 576, .tokens = 1, .latent_dim = 512, .rope_dim = 64,
                               .norm_weight = as_bf16(nw), .eps = 1e-6f, .positions = ints.data(),
                               .cos = table.data(), .sin = table.data(), .interleaved = false, .slots = ints.data(),
                               .cache = as_bf16(cache)};
  const BatchedGemm plain{.x = as_bf16(x), .x_ld = 192, .x_batch_stride = 192, .w = as_bf16(w), .w_ld = 512,
                          .w_batch_stride = 256 * 512, .w_transposed = false, .y = as_bf16(y), .y_ld = 576,
                          .y_batch_stride = 576, .n = 1, .out = 512, .in = 128, .batch = 2};
  BatchedGemm transposed = plain, early = plain, two_rows = plain;
  transposed.w_transposed = true;
  early.x_ready_early = true;
  two_rows.n = 2;
  for (const BatchedGemm& g : {transposed, early, two_rows})
    EXPECT_THROW(write_latent_cache_and_absorb(write, g, nullptr), Error);
}

struct LatentCase {
  const char* name;
  int latent, rope, heads, block_size;
  std::vector<int> context_lens;  // one query row each
  // Grouped-query cases (Llama's entry [kv_heads keys | kv_heads values] of head_dim each): latent
  // and rope unused.
  int kv_heads = 0;
  int head_dim = 0;
};

TEST(CudaModelOps, LatentAttentionMatchesCpuAttention) {
  REQUIRE_DEVICE();
  const LatentCase cases[] = {
      {"fixture widths, prefill rows", 32, 8, 4, 16, {1, 2, 3, 4, 5, 6, 40}},
      {"fixture widths, block size 1", 32, 8, 3, 1, {17, 1, 129}},
      {"fp8 fixture widths", 128, 32, 2, 7, {120, 300, 1}},
      {"DeepSeek widths", 512, 64, 16, 64, {1, 257, 1000}},
      {"grouped query, 2 groups", 0, 0, 6, 16, {1, 40, 129}, 2, 64},
      {"grouped query, Qwen-7B's 7 heads a group", 0, 0, 28, 7, {300, 2}, 4, 128},
  };
  for (const LatentCase& lc : cases) {
    const bool grouped = lc.kv_heads > 0;
    const int KVH = grouped ? lc.kv_heads : 1, H = lc.heads, bs = lc.block_size;
    const int E = grouped ? 2 * KVH * lc.head_dim : lc.latent + lc.rope, V = grouped ? lc.head_dim : lc.latent;
    const int K = grouped ? lc.head_dim : E;  // key width
    const int rows = static_cast<int>(lc.context_lens.size());
    const int max_ctx = *std::max_element(lc.context_lens.begin(), lc.context_lens.end());
    auto rng = rng_for(std::string("latent ") + lc.name);
    // Each row gets its own shuffled blocks; unused blocks hold NaN.
    int used = 0;
    for (int ctx : lc.context_lens) used += (ctx + bs - 1) / bs;
    const int num_blocks = used + 2, stride = (max_ctx + bs - 1) / bs;
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    std::vector<int32_t> tables(static_cast<std::size_t>(rows) * stride, 1 << 30);
    int next = 0;
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < (lc.context_lens[r] + bs - 1) / bs; ++i) tables[r * stride + i] = physical[next++];
    auto cache = random_bf16(static_cast<std::size_t>(num_blocks) * bs * E, rng);
    for (int i = next; i < num_blocks; ++i)
      std::fill_n(cache.begin() + static_cast<std::ptrdiff_t>(physical[i]) * bs * E, bs * E, uint16_t{0xffff});
    const auto q = random_bf16(static_cast<std::size_t>(rows) * H * K, rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(K));

    PagedKvCache host(1, num_blocks, bs, E);
    for (int blk = 0; blk < num_blocks; ++blk)
      for (int j = 0; j < bs; ++j) {
        const int32_t one[1] = {blk};
        float* slot = host.slot(0, one, j);
        for (int d = 0; d < E; ++d) slot[d] = bf16_to_f32(cache[(static_cast<std::size_t>(blk) * bs + j) * E + d]);
      }
    const auto qf = widen(q);
    std::vector<float> ref(static_cast<std::size_t>(rows) * H * V);
    for (int r = 0; r < rows; ++r) {
      const int ctx = lc.context_lens[r];
      std::vector<float> gathered(static_cast<std::size_t>(ctx) * E);
      host.gather(0, std::span<const int32_t>(tables.data() + r * stride, stride), ctx, gathered.data());
      cpu::attention({.q = qf.data() + static_cast<std::size_t>(r) * H * K, .k = gathered.data(),
                      .v = gathered.data() + (grouped ? KVH * K : 0),
                      .out = ref.data() + static_cast<std::size_t>(r) * H * V, .q_tokens = 1, .q_start = ctx - 1,
                      .ctx_len = ctx, .num_heads = H, .num_kv_heads = KVH, .qk_dim = K, .v_dim = V, .k_stride = E,
                      .v_stride = E, .scale = scale});
    }
    DeviceBuffer<uint16_t> dq(q), dcache(cache), dout(ref.size());
    DeviceBuffer<int32_t> dtables(tables), dlens(lc.context_lens);
    dout.fill_bytes(0xff);
    latent_attention({.q = as_bf16(dq), .cache = as_bf16(dcache), .block_tables = dtables.data(),
                      .block_table_stride = stride, .context_lens = dlens.data(), .rows = rows, .heads = H,
                      .entry_dim = E, .value_dim = V, .block_size = bs, .scale = scale, .out = as_bf16(dout),
                      .kv_heads = KVH, .key_dim = K, .value_offset = grouped ? KVH * K : 0},
                     nullptr);
    sync();
    report("latent_att", std::string(lc.name) + " E=" + std::to_string(E) + " H=" + std::to_string(H),
           rel_err(widen(dout.download()), ref), kBf16Tolerance);
  }
}

TEST(CudaModelOps, GemmWithFp32Output) {
  REQUIRE_DEVICE();
  Gemm gemm;
  for (auto [n, out, in] : {std::tuple{1, 512, 64}, {3, 1024, 256}, {17, 129280 / 10, 7168 / 7}}) {
    const std::string what = "n=" + std::to_string(n) + " out=" + std::to_string(out) + " in=" + std::to_string(in);
    auto rng = rng_for("gemm_f32 " + what);
    const auto x = random_bf16(n * in, rng), w = random_bf16(static_cast<std::size_t>(out) * in, rng);
    DeviceBuffer<uint16_t> dx(x), dw(w);
    DeviceBuffer<float> dy(static_cast<std::size_t>(n) * out);
    dy.fill_bytes(0xff);
    gemm.bf16_nt_f32(as_bf16(dx), n, as_bf16(dw), out, in, dy.data(), nullptr);
    sync();
    report("gemm_f32", what, rel_err(dy.download(), matmul_ref(widen(x), n, widen(w), out, in)), kBf16Tolerance);
  }
}

// Decode-sized GEMMs take gemv_nt (through Gemm, as the model calls them): every row count up to
// kGemvMaxRows, widths that leave part of a warp's last 256 columns, both output types; rows of y
// past n stay untouched.
TEST(CudaModelOps, GemvForDecodeSizedGemms) {
  REQUIRE_DEVICE();
  Gemm gemm;
  for (auto [out, in] : {std::pair<int64_t, int64_t>{8, 8}, {24, 136}, {1000, 2056}, {3072, 2048}})
    for (int64_t n = 1; n <= kGemvMaxRows; ++n) {
      const std::string what = "n=" + std::to_string(n) + " out=" + std::to_string(out) + " in=" + std::to_string(in);
      auto rng = rng_for("gemv " + what);
      const auto x = random_bf16(n * in, rng), w = random_bf16(static_cast<std::size_t>(out) * in, rng);
      DeviceBuffer<uint16_t> dx(x), dw(w), dy((n + 1) * out);
      DeviceBuffer<float> dyf((n + 1) * out);
      dy.fill_bytes(0xff);
      dyf.fill_bytes(0xff);
      gemm.bf16_nt(as_bf16(dx), n, as_bf16(dw), out, in, as_bf16(dy), nullptr);
      gemm.bf16_nt_f32(as_bf16(dx), n, as_bf16(dw), out, in, dyf.data(), nullptr);
      sync();
      const auto ref = matmul_ref(widen(x), n, widen(w), out, in);
      const auto y = expect_untouched_past(dy.download(), n * out, what);
      auto yf = dyf.download();
      yf.resize(n * out);
      report("gemv", what, rel_err(widen(y), ref), kBf16Tolerance);
      report("gemv_f32", what, rel_err(yf, ref), 1e-4);
    }
  // Widths Gemm does not take (out not a multiple of 8), straight to gemv_nt: a last block with
  // fewer features than the others.
  for (const int64_t out : {int64_t{20}, int64_t{1001}}) {
    const int64_t in = 136;
    const std::string what = "direct out=" + std::to_string(out);
    auto rng = rng_for("gemv " + what);
    const auto x = random_bf16(in, rng), w = random_bf16(static_cast<std::size_t>(out) * in, rng);
    DeviceBuffer<uint16_t> dx(x), dw(w), dy(out + 8);
    dy.fill_bytes(0xff);
    gemv_nt(as_bf16(dx), 1, as_bf16(dw), out, in, as_bf16(dy), nullptr);
    sync();
    const auto y = expect_untouched_past(dy.download(), out, what);
    report("gemv", what, rel_err(widen(y), matmul_ref(widen(x), 1, widen(w), out, in)), kBf16Tolerance);
  }
}

// The two MLA absorption GEMMs as the model runs them: per head, at the strides of q, kv_b_proj
// and the outputs. One or two tokens run gemv_batched (where the strides allow 16-byte loads;
// the widths of 20 do not, and fall back to cuBLASLt), more run cuBLASLt.
TEST(CudaModelOps, BatchedGemmOverHeads) {
  REQUIRE_DEVICE();
  Gemm gemm;
  struct Shape { int64_t tokens, heads, nope, rope, value, latent; };
  for (const Shape s : {Shape{1, 4, 16, 8, 16, 32}, Shape{7, 2, 64, 32, 64, 128}, Shape{33, 16, 128, 64, 128, 512},
                        Shape{2, 16, 128, 64, 128, 512}, Shape{1, 3, 40, 24, 40, 72}, Shape{2, 5, 24, 8, 56, 136},
                        Shape{1, 2, 12, 4, 12, 20}}) {
    const std::string what = "T=" + std::to_string(s.tokens) + " H=" + std::to_string(s.heads) + " r=" + std::to_string(s.latent);
    auto rng = rng_for("batched " + what);
    const int64_t T = s.tokens, H = s.heads, dk = s.nope + s.rope, E = s.latent + s.rope, kvb_rows = s.nope + s.value;
    const auto q = random_bf16(T * H * dk, rng), kv_b = random_bf16(H * kvb_rows * s.latent, rng);
    const auto qf = widen(q), kf = widen(kv_b);
    DeviceBuffer<uint16_t> dq(q), dkv(kv_b), dabs(T * H * E), dlat(T * H * s.latent), dheads(T * H * s.value);
    const auto latent = random_bf16(T * H * s.latent, rng);
    dlat.upload(latent);
    dabs.fill_bytes(0xff);
    dheads.fill_bytes(0xff);

    // Absorb: abs[t, h, :r] = q_nope[t, h] · W_UK[h] (W_UK[h] = [nope, r], "x · W").
    const BatchedGemm absorb{.x = as_bf16(dq), .x_ld = H * dk, .x_batch_stride = dk, .w = as_bf16(dkv),
                             .w_ld = s.latent, .w_batch_stride = kvb_rows * s.latent, .w_transposed = false,
                             .y = as_bf16(dabs), .y_ld = H * E, .y_batch_stride = E, .n = T, .out = s.latent,
                             .in = s.nope, .batch = static_cast<int>(H)};
    // Expand: heads[t, h] = latent[t, h] · W_UV[h]ᵀ (W_UV[h] = [value, r], the rows after W_UK[h]).
    const BatchedGemm expand{.x = as_bf16(dlat), .x_ld = H * s.latent, .x_batch_stride = s.latent,
                             .w = as_bf16(dkv) + s.nope * s.latent, .w_ld = s.latent,
                             .w_batch_stride = kvb_rows * s.latent, .w_transposed = true, .y = as_bf16(dheads),
                             .y_ld = H * s.value, .y_batch_stride = s.value, .n = T, .out = s.value, .in = s.latent,
                             .batch = static_cast<int>(H)};
    // Which path runs: the gemv for one or two tokens wherever every width is a multiple of 8.
    const bool gemv = T <= kGemvMaxRows && s.latent % 8 == 0 && s.nope % 8 == 0 && s.value % 8 == 0;
    EXPECT_EQ(gemv_batched_supported(absorb), gemv) << what;
    EXPECT_EQ(gemv_batched_supported(expand), gemv) << what;
    gemm.bf16_batched(absorb, nullptr);
    gemm.bf16_batched(expand, nullptr);
    sync();
    const auto abs_raw = dabs.download();
    if (gemv) {  // x read early (BatchedGemm::x_ready_early), as an unfolded decode step absorbs: the same products
      DeviceBuffer<uint16_t> dabs_early(T * H * E);
      dabs_early.fill_bytes(0xff);
      BatchedGemm early = absorb;
      early.y = as_bf16(dabs_early);
      early.x_ready_early = true;
      gemv_batched(early, nullptr);
      sync();
      EXPECT_EQ(dabs_early.download(), abs_raw) << what << ": x read early";
    }
    const auto abs = widen(abs_raw);
    // The rope columns of each absorbed row are not the product's: they keep their poison.
    bool rope_untouched = true;
    for (int64_t row = 0; row < T * H; ++row)
      for (int64_t c = s.latent; c < E; ++c) rope_untouched &= abs_raw[row * E + c] == 0xffff;
    EXPECT_TRUE(rope_untouched) << what;
    std::vector<float> got_abs, want_abs, want_heads(T * H * s.value);
    const auto lf = widen(latent);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t c = 0; c < s.latent; ++c) {
          float sum = 0;
          for (int64_t d = 0; d < s.nope; ++d)
            sum += qf[(t * H + h) * dk + d] * kf[(h * kvb_rows + d) * s.latent + c];
          want_abs.push_back(sum);
          got_abs.push_back(abs[(t * H + h) * E + c]);
        }
        for (int64_t v = 0; v < s.value; ++v) {
          float sum = 0;
          for (int64_t c = 0; c < s.latent; ++c)
            sum += lf[(t * H + h) * s.latent + c] * kf[(h * kvb_rows + s.nope + v) * s.latent + c];
          want_heads[(t * H + h) * s.value + v] = sum;
        }
      }
    report("gemm_batch", what + " absorb", rel_err(got_abs, want_abs), kBf16Tolerance);
    report("gemm_batch", what + " expand", rel_err(widen(dheads.download()), want_heads), kBf16Tolerance);
  }
}

}  // namespace
}  // namespace tide::cuda
