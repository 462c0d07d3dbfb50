#pragma once
// The BPE merge ranks, looked up by the pair of token ids being merged. Encoding does one lookup
// per candidate pair, so this is an open-addressing table with the entries inline (one probe is
// usually one cache line) rather than a node-based std::unordered_map.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tide::tokenizer {

struct Merge {
  uint32_t rank;
  int32_t merged_id;
};

class MergeTable {
 public:
  void reserve(size_t count);
  // A pair added again keeps the later merge, as in the reference implementation.
  void insert_or_assign(int32_t left, int32_t right, Merge merge);
  const Merge* find(int32_t left, int32_t right) const;

 private:
  struct Slot {
    uint64_t key;  // kEmpty when unused
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so never a real key

  static uint64_t key_of(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  size_t slot_of(uint64_t key) const;
  void grow();

  std::vector<Slot> slots_;
  size_t size_ = 0;
  unsigned shift_ = 64;  // 64 - log2(slots_.size())
};

}  // namespace tide::tokenizer
