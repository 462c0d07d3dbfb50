#include "tokenizer/merge_table.h"

namespace tide::tokenizer {

size_t MergeTable::slot_of(uint64_t key) const {
  // Fibonacci hashing: multiply, keep the top bits; spreads the dense id pairs well.
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

void MergeTable::reserve(size_t count) {
  while (slots_.size() < 2 * count) grow();
}

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.empty() ? 16 : old.size() * 2;
  slots_.assign(capacity, Slot{kEmpty, {}});
  shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(capacity));
  size_ = 0;
  for (const Slot& slot : old) {
    if (slot.key != kEmpty) {
      insert_or_assign(static_cast<int32_t>(slot.key >> 32), static_cast<int32_t>(slot.key),
                       slot.merge);
    }
  }
}

void MergeTable::insert_or_assign(int32_t left, int32_t right, Merge merge) {
  // Kept at most half full so that probe sequences stay short.
  if (2 * (size_ + 1) > slots_.size()) grow();
  const uint64_t key = key_of(left, right);
  const size_t mask = slots_.size() - 1;
  for (size_t index = slot_of(key);; index = (index + 1) & mask) {
    Slot& slot = slots_[index];
    if (slot.key == key) {
      slot.merge = merge;
      return;
    }
    if (slot.key == kEmpty) {
      slot = Slot{key, merge};
      ++size_;
      return;
    }
  }
}

const Merge* MergeTable::find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  const uint64_t key = key_of(left, right);
  const size_t mask = slots_.size() - 1;
  for (size_t index = slot_of(key);; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.key == key) return &slot.merge;
    if (slot.key == kEmpty) return nullptr;
  }
}

}  // namespace tide::tokenizer
