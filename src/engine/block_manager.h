#pragma once
// Owns the KV cache's blocks: reference counts, the automatic prefix cache, and eviction.
//
// Prefix caching: a full block is keyed by the hash of its tokens chained with its
// predecessor's key, so a key names the whole prefix up to the block's end. A new prompt
// reuses every leading full block whose key (and tokens, checked on a hit) match. Blocks whose
// reference count drops to zero keep their key and stay findable until they are evicted, least
// recently released first, when fresh blocks run out.
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace tide {

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size, bool prefix_caching);

  int block_size() const { return block_size_; }
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks not referenced by any sequence (cached-but-unused ones count as free).
  int free_blocks() const { return static_cast<int>(free_lru_.size()); }
  double usage() const { return 1.0 - static_cast<double>(free_blocks()) / num_blocks(); }

  int64_t prefix_queried_tokens() const { return queried_tokens_; }
  int64_t prefix_hit_tokens() const { return hit_tokens_; }

  // How far a sequence's blocks are registered in the prefix cache, so each step hashes only
  // newly completed blocks instead of walking the whole block table.
  struct PrefixCursor {
    int64_t blocks = 0;  // leading blocks already registered (or found in the cache)
    uint64_t key = 0;    // chained key of the last of them
  };

  struct PromptAllocation {
    std::vector<int32_t> blocks;   // covers the whole prompt
    int64_t cached_tokens = 0;     // leading tokens whose KV is already in the cache
    PrefixCursor cursor;           // past the cached blocks
  };
  // Blocks for a prompt, reusing cached prefix blocks. At least the prompt's last token is
  // always left to compute (its logits are needed). nullopt when not enough blocks are free;
  // nothing is changed then.
  std::optional<PromptAllocation> allocate_prompt(std::span<const int32_t> tokens);

  // Makes `blocks` able to hold `length` tokens, taking fresh blocks as needed. false (and no
  // change) when none are free.
  bool ensure_capacity(std::vector<int32_t>& blocks, int64_t length);

  // Registers the full blocks of a sequence whose tokens[0, computed) are now in the cache, so
  // later prompts can share them. Cheap to call every step: only blocks past `cursor` are hashed.
  void register_full_blocks(std::span<const int32_t> blocks, std::span<const int32_t> tokens, int64_t computed,
                            PrefixCursor& cursor);

  // Drops one reference to each block (a finished, cancelled or preempted sequence).
  void release(std::vector<int32_t>& blocks);

 private:
  struct Block {
    int32_t refs = 0;
    std::optional<uint64_t> key;     // set once full and registered
    std::vector<int32_t> tokens;     // the block's tokens, to confirm a key match
    std::list<int32_t>::iterator lru;  // position in free_lru_ while refs == 0
  };

  static uint64_t chain_key(uint64_t parent, std::span<const int32_t> tokens);
  int32_t take_fresh();            // evicts the least recently released block
  void acquire(int32_t block);     // one more reference; leaves the free list if needed
  std::optional<int32_t> lookup(uint64_t key, std::span<const int32_t> tokens) const;

  int block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::list<int32_t> free_lru_;    // refs == 0, front = evicted first
  std::unordered_map<uint64_t, int32_t> cached_;
  int64_t queried_tokens_ = 0;
  int64_t hit_tokens_ = 0;
};

}  // namespace tide
