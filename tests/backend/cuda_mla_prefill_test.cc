// MLA prefill in the expanded form against its CPU twin (cpu::attention with the keys
// [k_nope | shared rope key] and values of each head, as MlaAttention::attend_expanded calls it),
// on awkward sizes: single rows, rows that are not a multiple of the block's 64, key tiles cut
// by the context's end, cached prefixes before the new rows, 1 to 16 heads, strided inputs laid
// out as the model lays them. And the gather of a sequence's cache entries through its block
// table, bit for bit. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cpu/ops.h"
#include "cuda_test_support.h"

namespace tide::cuda {
namespace {

struct PrefillCase {
  int heads, rows, context, block_size;
};

TEST(CudaMlaPrefill, ExpandedAttentionMatchesCpuAttention) {
  REQUIRE_DEVICE();
  constexpr int kNope = kMlaPrefillNopeDim, kRope = kMlaRopeDim, kQk = kNope + kRope, kV = kMlaPrefillValueDim;
  constexpr int kE = kMlaEntryDim, kLatent = kMlaLatentDim;
  const PrefillCase cases[] = {{1, 1, 1, 16},    {3, 37, 37, 16},  {2, 64, 64, 7},   {16, 130, 200, 64},
                               {5, 129, 129, 1}, {16, 1, 700, 64}, {16, 300, 1000, 64}};
  for (const PrefillCase& pc : cases) {
    const int H = pc.heads, rows = pc.rows, ctx = pc.context, bs = pc.block_size;
    const std::string what = "H=" + std::to_string(H) + " rows=" + std::to_string(rows) + " ctx=" +
                             std::to_string(ctx) + " bs=" + std::to_string(bs);
    auto rng = rng_for("mla prefill " + what);

    const PagedContext paged(ctx, bs, kE, rng);
    const std::vector<int32_t>& table = paged.table;
    const std::vector<uint16_t>& cache = paged.cache;
    DeviceBuffer<uint16_t> dcache(cache), dlatent(static_cast<std::size_t>(ctx) * kLatent),
        drope(static_cast<std::size_t>(ctx) * kRope);
    DeviceBuffer<int32_t> dtable(table);
    dlatent.fill_bytes(0xff);
    drope.fill_bytes(0xff);
    gather_latent_context({.cache = as_bf16(dcache), .block_table = dtable.data(), .block_size = bs, .context = ctx,
                           .latent = as_bf16(dlatent), .rope = as_bf16(drope)},
                          nullptr);
    sync();
    const auto latent = dlatent.download(), rope = drope.download();
    bool same = true;
    for (int p = 0; p < ctx; ++p) {
      const auto entry = cache.begin() + (static_cast<std::ptrdiff_t>(table[p / bs]) * bs + p % bs) * kE;
      same &= std::equal(entry, entry + kLatent, latent.begin() + static_cast<std::ptrdiff_t>(p) * kLatent);
      same &= std::equal(entry + kLatent, entry + kE, rope.begin() + static_cast<std::ptrdiff_t>(p) * kRope);
    }
    report("gather_ctx", what, same ? 0.0 : 1.0, 0.0);

    // The model's layouts: q_nope inside the projection rows (heads 192 apart, then the kv part),
    // q_rope at the end of each head's absorbed row (576 apart), the output with a pad per row.
    const int64_t q_stride = static_cast<int64_t>(H) * kQk + kE, absorbed_stride = static_cast<int64_t>(H) * kE;
    const int64_t out_stride = static_cast<int64_t>(H) * kV + 8;
    const auto q = random_bf16(static_cast<std::size_t>(rows) * q_stride, rng);
    const auto absorbed = random_bf16(static_cast<std::size_t>(rows) * absorbed_stride, rng);
    const auto kv = random_bf16(static_cast<std::size_t>(ctx) * H * (kNope + kV), rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(kQk));

    // The twin: plain multi-head attention over [k_nope_h | rope] keys and v_h values.
    std::vector<float> qf(static_cast<std::size_t>(rows) * H * kQk), kf(static_cast<std::size_t>(ctx) * H * kQk),
        vf(static_cast<std::size_t>(ctx) * H * kV), ref(static_cast<std::size_t>(rows) * H * kV);
    for (int i = 0; i < rows; ++i)
      for (int h = 0; h < H; ++h)
        for (int d = 0; d < kQk; ++d)
          qf[(static_cast<std::size_t>(i) * H + h) * kQk + d] =
              bf16_to_f32(d < kNope ? q[i * q_stride + h * kQk + d] : absorbed[i * absorbed_stride + h * kE + kLatent + d - kNope]);
    for (int p = 0; p < ctx; ++p)
      for (int h = 0; h < H; ++h) {
        for (int d = 0; d < kQk; ++d)
          kf[(static_cast<std::size_t>(p) * H + h) * kQk + d] =
              bf16_to_f32(d < kNope ? kv[(static_cast<std::size_t>(p) * H + h) * (kNope + kV) + d]
                                    : rope[static_cast<std::size_t>(p) * kRope + d - kNope]);
        for (int d = 0; d < kV; ++d)
          vf[(static_cast<std::size_t>(p) * H + h) * kV + d] =
              bf16_to_f32(kv[(static_cast<std::size_t>(p) * H + h) * (kNope + kV) + kNope + d]);
      }
    cpu::attention({.q = qf.data(), .k = kf.data(), .v = vf.data(), .out = ref.data(), .q_tokens = rows,
                    .q_start = ctx - rows, .ctx_len = ctx, .num_heads = H, .num_kv_heads = H, .qk_dim = kQk,
                    .v_dim = kV, .k_stride = static_cast<int64_t>(H) * kQk, .v_stride = static_cast<int64_t>(H) * kV,
                    .scale = scale});

    DeviceBuffer<uint16_t> dq(q), dabsorbed(absorbed), dkv(kv), dout(static_cast<std::size_t>(rows) * out_stride);
    dout.fill_bytes(0xff);
    mla_prefill({.q_nope = as_bf16(dq), .q_nope_stride = q_stride, .q_nope_head_stride = kQk,
                 .q_rope = as_bf16(dabsorbed) + kLatent, .q_rope_stride = absorbed_stride, .q_rope_head_stride = kE,
                 .kv = as_bf16(dkv), .k_rope = as_bf16(drope), .rows = rows, .context = ctx, .heads = H,
                 .scale = scale, .out = as_bf16(dout), .out_stride = out_stride, .out_head_stride = kV},
                nullptr);
    sync();
    const auto out = dout.download();
    std::vector<float> got(ref.size());
    bool pad_kept = true;
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < H * kV; ++j) got[static_cast<std::size_t>(i) * H * kV + j] = bf16_to_f32(out[i * out_stride + j]);
      for (int j = H * kV; j < out_stride; ++j) pad_kept &= out[i * out_stride + j] == 0xffff;
    }
    report("mla_prefill", what, rel_err(got, ref), kBf16Tolerance);
    EXPECT_TRUE(pad_kept) << what << ": wrote past a row's heads";
  }
}

}  // namespace
}  // namespace tide::cuda
