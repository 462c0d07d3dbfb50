// Grouped-query attention of Llama and Qwen2 (head_dim 128) straight from a paged cache of
// [k of every kv head | v of every kv head] entries, against cpu::attention with kv heads over the
// context gathered in order: the prefill chunk's flash kernel (gqa_prefill) and the per-row
// split-context kernel of decode rows (gqa_decode). Awkward sizes: single rows and positions,
// contexts cut anywhere in a sub-chunk or a block, groups of 1 to 16 heads, block sizes from 1,
// shuffled blocks with NaN in the ones a sequence does not use. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cpu/ops.h"
#include "cuda_test_support.h"

namespace tide::cuda {
namespace {

constexpr int kHd = kGqaHeadDim;

TEST(CudaGqaPrefill, GroupedQueryAttentionFromThePagedCacheMatchesCpuAttention) {
  REQUIRE_DEVICE();
  struct GqaCase {
    int heads, kv_heads, rows, context, block_size;
  };
  const GqaCase cases[] = {{1, 1, 1, 1, 16},     {4, 2, 37, 37, 16},   {7, 1, 64, 64, 7},
                           {28, 4, 130, 200, 64}, {8, 8, 129, 129, 1}, {6, 2, 300, 1000, 32}};
  for (const GqaCase& gc : cases) {
    const int H = gc.heads, KVH = gc.kv_heads, rows = gc.rows, ctx = gc.context, bs = gc.block_size;
    const int64_t kv_dim = static_cast<int64_t>(KVH) * kHd, entry = 2 * kv_dim;
    const std::string what = "H=" + std::to_string(H) + "/" + std::to_string(KVH) + " rows=" + std::to_string(rows) +
                             " ctx=" + std::to_string(ctx) + " bs=" + std::to_string(bs);
    auto rng = rng_for("gqa prefill " + what);
    const PagedContext paged(ctx, bs, entry, rng);
    const auto q = random_bf16(static_cast<std::size_t>(rows) * H * kHd, rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(kHd));

    // The twin over the context gathered in order: [k | v] rows, kv heads grouped.
    const std::vector<float> context = paged.gathered(ctx);
    std::vector<float> ref(static_cast<std::size_t>(rows) * H * kHd);
    const std::vector<float> qf = widen(q);
    cpu::attention({.q = qf.data(), .k = context.data(), .v = context.data() + kv_dim, .out = ref.data(),
                    .q_tokens = rows, .q_start = ctx - rows, .ctx_len = ctx, .num_heads = H, .num_kv_heads = KVH,
                    .qk_dim = kHd, .v_dim = kHd, .k_stride = entry, .v_stride = entry, .scale = scale});

    DeviceBuffer<uint16_t> dcache(paged.cache), dq(q), dout(static_cast<std::size_t>(rows) * H * kHd);
    DeviceBuffer<int32_t> dtable(paged.table);
    dout.fill_bytes(0xff);
    gqa_prefill({.q = as_bf16(dq), .cache = as_bf16(dcache), .block_table = dtable.data(), .block_size = bs,
                 .rows = rows, .context = ctx, .heads = H, .kv_heads = KVH, .scale = scale, .out = as_bf16(dout)},
                nullptr);
    sync();
    report("gqa_prefill", what, rel_err(widen(dout.download()), ref), kBf16Tolerance);
  }
}

TEST(CudaGqaPrefill, RefusesWhatItCannotRun) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint16_t> buffer(1024);
  DeviceBuffer<int32_t> table(4);
  const GqaPrefillArgs base{.q = as_bf16(buffer), .cache = as_bf16(buffer), .block_table = table.data(),
                            .block_size = 16, .rows = 4, .context = 4, .heads = 4, .kv_heads = 2, .scale = 1.f,
                            .out = as_bf16(buffer)};
  GqaPrefillArgs rows_past_context = base;
  rows_past_context.rows = 5;
  EXPECT_THROW(gqa_prefill(rows_past_context, nullptr), Error);
  GqaPrefillArgs uneven_groups = base;
  uneven_groups.kv_heads = 3;
  EXPECT_THROW(gqa_prefill(uneven_groups, nullptr), Error);
}

// Rows of different sequences in one launch, each over its own context; launched twice, so that
// the second launch finds the merge counters the first left at zero.
TEST(CudaGqaDecode, EachRowAttendsItsOwnContextAsCpuAttentionDoes) {
  REQUIRE_DEVICE();
  struct DecodeCase {
    int heads, kv_heads, block_size;
    std::vector<int> contexts;  // one row each
  };
  const DecodeCase cases[] = {{1, 1, 16, {1}},
                              {28, 4, 16, {1024}},
                              {7, 1, 7, {63, 64, 65}},
                              {16, 1, 1, {200, 3}},
                              {12, 2, 64, {1000, 1, 129, 4097}},
                              {8, 8, 32, {70, 6000}}};
  for (const DecodeCase& dc : cases) {
    const int H = dc.heads, KVH = dc.kv_heads, bs = dc.block_size, rows = static_cast<int>(dc.contexts.size());
    const int64_t kv_dim = static_cast<int64_t>(KVH) * kHd, entry = 2 * kv_dim;
    const int max_context = *std::max_element(dc.contexts.begin(), dc.contexts.end());
    std::string what = "H=" + std::to_string(H) + "/" + std::to_string(KVH) + " bs=" + std::to_string(bs) + " ctx=";
    for (int c : dc.contexts) what += std::to_string(c) + ",";
    auto rng = rng_for("gqa decode " + what);
    // Each row's sequence in its own blocks of one shared cache: one PagedContext per row, stacked.
    std::vector<PagedContext> sequences;
    for (int c : dc.contexts) sequences.emplace_back(c, bs, entry, rng);
    const int table_stride = (max_context + bs - 1) / bs;
    std::vector<uint16_t> cache;
    std::vector<int32_t> tables(static_cast<std::size_t>(rows) * table_stride, 0);
    for (int r = 0; r < rows; ++r) {
      const int32_t first_block = static_cast<int32_t>(cache.size() / (static_cast<std::size_t>(bs) * entry));
      for (std::size_t i = 0; i < sequences[r].table.size(); ++i)
        tables[static_cast<std::size_t>(r) * table_stride + i] = first_block + sequences[r].table[i];
      cache.insert(cache.end(), sequences[r].cache.begin(), sequences[r].cache.end());
    }
    const auto q = random_bf16(static_cast<std::size_t>(rows) * H * kHd, rng);
    const float scale = 1.f / std::sqrt(static_cast<float>(kHd));
    const std::vector<float> qf = widen(q);
    std::vector<float> ref(static_cast<std::size_t>(rows) * H * kHd);
    for (int r = 0; r < rows; ++r) {
      const int ctx = dc.contexts[r];
      const std::vector<float> context = sequences[r].gathered(ctx);
      cpu::attention({.q = qf.data() + static_cast<std::size_t>(r) * H * kHd, .k = context.data(),
                      .v = context.data() + kv_dim, .out = ref.data() + static_cast<std::size_t>(r) * H * kHd,
                      .q_tokens = 1, .q_start = ctx - 1, .ctx_len = ctx, .num_heads = H, .num_kv_heads = KVH,
                      .qk_dim = kHd, .v_dim = kHd, .k_stride = entry, .v_stride = entry, .scale = scale});
    }
    DeviceBuffer<uint16_t> dcache(cache), dq(q), dout(static_cast<std::size_t>(rows) * H * kHd);
    DeviceBuffer<int32_t> dtables(tables), dcontexts(dc.contexts);
    DeviceBuffer<unsigned> counters(static_cast<std::size_t>(rows) * KVH);
    counters.fill_bytes(0);
    const GqaDecodeArgs args{.q = as_bf16(dq), .cache = as_bf16(dcache), .block_tables = dtables.data(),
                             .block_table_stride = table_stride, .context_lens = dcontexts.data(), .rows = rows,
                             .heads = H, .kv_heads = KVH, .block_size = bs, .max_context = max_context,
                             .scale = scale, .out = as_bf16(dout), .counters = counters.data()};
    DeviceBuffer<unsigned char> workspace(gqa_decode_workspace_bytes(args));
    for (int launch = 0; launch < 2; ++launch) {
      dout.fill_bytes(0xff);
      gqa_decode(args, workspace.data(), workspace.size(), nullptr);
      sync();
      report("gqa_decode", what + " launch " + std::to_string(launch + 1), rel_err(widen(dout.download()), ref),
             kBf16Tolerance);
    }
    const auto left = counters.download();
    EXPECT_TRUE(std::all_of(left.begin(), left.end(), [](unsigned c) { return c == 0; })) << what;
  }
}

TEST(CudaGqaDecode, RefusesWhatItCannotRun) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint16_t> buffer(1024);
  DeviceBuffer<int32_t> ints(4);
  DeviceBuffer<unsigned> counters(4);
  const GqaDecodeArgs base{.q = as_bf16(buffer), .cache = as_bf16(buffer), .block_tables = ints.data(),
                           .block_table_stride = 1, .context_lens = ints.data(), .rows = 1, .heads = 34,
                           .kv_heads = 2, .block_size = 16, .max_context = 16, .scale = 1.f,
                           .out = as_bf16(buffer), .counters = counters.data()};
  EXPECT_THROW(gqa_decode_workspace_bytes(base), Error);  // 17 heads a group
  GqaDecodeArgs fits = base;
  fits.heads = 4;
  EXPECT_THROW(gqa_decode(fits, buffer.data(), 0, nullptr), Error);  // no workspace
}

}  // namespace
}  // namespace tide::cuda
