#include "engine/block_manager.h"

#include <algorithm>

namespace tide {

BlockManager::BlockManager(int num_blocks, int block_size, bool prefix_caching)
    : block_size_(block_size), prefix_caching_(prefix_caching), blocks_(num_blocks) {
  for (int32_t b = 0; b < num_blocks; ++b) blocks_[b].lru = free_lru_.insert(free_lru_.end(), b);
}

uint64_t BlockManager::chain_key(uint64_t parent, std::span<const int32_t> tokens) {
  // splitmix64-style mixing over the parent key and each token: cheap, well distributed; a
  // collision is caught by comparing tokens on lookup.
  uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
  for (int32_t t : tokens) {
    h ^= static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
  }
  return h;
}

std::optional<int32_t> BlockManager::lookup(uint64_t key, std::span<const int32_t> tokens) const {
  auto it = cached_.find(key);
  if (it == cached_.end()) return std::nullopt;
  const Block& b = blocks_[it->second];
  if (!std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) return std::nullopt;
  return it->second;
}

void BlockManager::acquire(int32_t block) {
  Block& b = blocks_[block];
  if (b.refs++ == 0) free_lru_.erase(b.lru);
}

int32_t BlockManager::take_fresh() {
  const int32_t block = free_lru_.front();
  Block& b = blocks_[block];
  if (b.key) {
    cached_.erase(*b.key);
    b.key.reset();
    b.tokens.clear();
  }
  acquire(block);
  return block;
}

std::optional<BlockManager::PromptAllocation> BlockManager::allocate_prompt(std::span<const int32_t> tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t needed = (n + block_size_ - 1) / block_size_;

  // Leading full blocks found in the cache; the block holding the last token is never reused,
  // so that token is computed and yields logits.
  std::vector<int32_t> hits;
  PrefixCursor cursor;
  if (prefix_caching_) {
    for (int64_t start = 0; start + block_size_ < n; start += block_size_) {
      auto chunk = tokens.subspan(start, block_size_);
      const uint64_t key = chain_key(cursor.key, chunk);
      auto hit = lookup(key, chunk);
      if (!hit) break;
      hits.push_back(*hit);
      cursor = {cursor.blocks + 1, key};
    }
  }
  // Hits with no references sit in the free list; taking them does not consume fresh blocks.
  int64_t hits_in_free = 0;
  for (int32_t h : hits) hits_in_free += blocks_[h].refs == 0;
  const int64_t fresh = needed - static_cast<int64_t>(hits.size());
  if (fresh > free_blocks() - hits_in_free) return std::nullopt;

  PromptAllocation alloc;
  for (int32_t h : hits) {
    acquire(h);
    alloc.blocks.push_back(h);
  }
  for (int64_t i = 0; i < fresh; ++i) alloc.blocks.push_back(take_fresh());
  alloc.cached_tokens = static_cast<int64_t>(hits.size()) * block_size_;
  alloc.cursor = cursor;
  if (prefix_caching_) {
    queried_tokens_ += n;
    hit_tokens_ += alloc.cached_tokens;
  }
  return alloc;
}

bool BlockManager::ensure_capacity(std::vector<int32_t>& blocks, int64_t length) {
  const int64_t needed = (length + block_size_ - 1) / block_size_ - static_cast<int64_t>(blocks.size());
  if (needed <= 0) return true;
  if (needed > free_blocks()) return false;
  for (int64_t i = 0; i < needed; ++i) blocks.push_back(take_fresh());
  return true;
}

void BlockManager::register_full_blocks(std::span<const int32_t> blocks, std::span<const int32_t> tokens,
                                        int64_t computed, PrefixCursor& cursor) {
  if (!prefix_caching_) return;
  const int64_t full = std::min<int64_t>(computed / block_size_, static_cast<int64_t>(blocks.size()));
  for (; cursor.blocks < full; ++cursor.blocks) {
    auto chunk = tokens.subspan(cursor.blocks * block_size_, block_size_);
    cursor.key = chain_key(cursor.key, chunk);
    Block& b = blocks_[blocks[cursor.blocks]];
    if (b.key || cached_.count(cursor.key)) continue;  // already cached (this block or an identical one)
    b.key = cursor.key;
    b.tokens.assign(chunk.begin(), chunk.end());
    cached_[cursor.key] = blocks[cursor.blocks];
  }
}

void BlockManager::release(std::vector<int32_t>& blocks) {
  // Released in reverse so a sequence's tail blocks are evicted before its head: the head is
  // the part other prompts are most likely to share.
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    Block& b = blocks_[*it];
    if (--b.refs == 0) b.lru = free_lru_.insert(free_lru_.end(), *it);
  }
  blocks.clear();
}

}  // namespace tide
