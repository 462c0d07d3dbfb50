#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace tide {
namespace {

std::vector<int32_t> iota_tokens(int n, int first = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

TEST(BlockManager, AllocatesWholePromptAndReleasesEverything) {
  BlockManager m(8, 4, true);
  auto a = m.allocate_prompt(iota_tokens(10));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->blocks.size(), 3u);
  EXPECT_EQ(a->cached_tokens, 0);
  EXPECT_EQ(m.free_blocks(), 5);
  m.release(a->blocks);
  EXPECT_EQ(m.free_blocks(), 8);
  EXPECT_TRUE(a->blocks.empty());
}

TEST(BlockManager, RegisteredFullBlocksAreSharedByALaterPromptWithTheSamePrefix) {
  BlockManager m(8, 4, true);
  auto tokens = iota_tokens(10);
  auto a = m.allocate_prompt(tokens);
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(a->blocks, tokens, 10, cursor); }  // blocks 0 and 1 are full
  auto b = m.allocate_prompt(tokens);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->cached_tokens, 8);
  EXPECT_EQ(b->blocks[0], a->blocks[0]);
  EXPECT_EQ(b->blocks[1], a->blocks[1]);
  EXPECT_NE(b->blocks[2], a->blocks[2]);
  EXPECT_EQ(m.prefix_queried_tokens(), 20);
  EXPECT_EQ(m.prefix_hit_tokens(), 8);
  // Shared blocks stay held until both sequences release them.
  m.release(a->blocks);
  EXPECT_EQ(m.free_blocks(), 8 - 3);
  m.release(b->blocks);
  EXPECT_EQ(m.free_blocks(), 8);
}

TEST(BlockManager, DifferentEarlierTokensMeanNoHitEvenIfTheBlockMatches) {
  BlockManager m(8, 4, true);
  auto first = iota_tokens(9);
  auto a = m.allocate_prompt(first);
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(a->blocks, first, 9, cursor); }
  auto second = first;
  second[0] = 7;  // same second block, different first block: the chained key differs
  auto b = m.allocate_prompt(second);
  EXPECT_EQ(b->cached_tokens, 0);
}

TEST(BlockManager, LastTokenIsAlwaysComputed) {
  BlockManager m(8, 4, true);
  auto tokens = iota_tokens(8);  // exactly two full blocks
  auto a = m.allocate_prompt(tokens);
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(a->blocks, tokens, 8, cursor); }
  auto b = m.allocate_prompt(tokens);
  EXPECT_EQ(b->cached_tokens, 4);  // the block holding the last token is recomputed
}

TEST(BlockManager, ReleasedCachedBlocksAreReusedUntilEvictedLeastRecentlyReleasedFirst) {
  BlockManager m(4, 2, true);
  auto p1 = iota_tokens(5, 10), p2 = iota_tokens(5, 50);
  auto a = m.allocate_prompt(p1);  // 3 blocks
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(a->blocks, p1, 5, cursor); }
  m.release(a->blocks);
  EXPECT_EQ(m.free_blocks(), 4);
  auto again = m.allocate_prompt(p1);
  EXPECT_EQ(again->cached_tokens, 4);  // still cached after release
  m.release(again->blocks);
  auto b = m.allocate_prompt(p2);  // needs 3 fresh blocks: evicts cached ones, tail first
  ASSERT_TRUE(b);
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(b->blocks, p2, 5, cursor); }
  m.release(b->blocks);
  auto c = m.allocate_prompt(p1);
  EXPECT_LT(c->cached_tokens, 4);  // p1's blocks were evicted for p2
}

TEST(BlockManager, RefusesWithoutSideEffectsWhenBlocksRunOut) {
  BlockManager m(3, 4, true);
  auto a = m.allocate_prompt(iota_tokens(8));
  ASSERT_TRUE(a);
  EXPECT_FALSE(m.allocate_prompt(iota_tokens(8, 500)));
  EXPECT_EQ(m.free_blocks(), 1);
  std::vector<int32_t> blocks = a->blocks;
  EXPECT_TRUE(m.ensure_capacity(blocks, 12));
  EXPECT_FALSE(m.ensure_capacity(blocks, 13));
  EXPECT_EQ(blocks.size(), 3u);
}

TEST(BlockManager, WithoutPrefixCachingNothingIsShared) {
  BlockManager m(8, 4, false);
  auto tokens = iota_tokens(10);
  auto a = m.allocate_prompt(tokens);
  { BlockManager::PrefixCursor cursor; m.register_full_blocks(a->blocks, tokens, 10, cursor); }
  EXPECT_EQ(m.allocate_prompt(tokens)->cached_tokens, 0);
}

}  // namespace
}  // namespace tide
