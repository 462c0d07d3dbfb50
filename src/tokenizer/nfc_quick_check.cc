#include "tokenizer/nfc_quick_check.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

// Every character below U+0300 (the first combining mark) passes trivially.
constexpr char32_t kFirstInteresting = 0x300;

template <typename Range>
const Range* find_range(const Range* ranges, size_t count, char32_t code_point) {
  const Range* end = ranges + count;
  const Range* it = std::upper_bound(
      ranges, end, code_point, [](char32_t cp, const Range& range) { return cp < range.first; });
  if (it == ranges) return nullptr;
  --it;
  return code_point <= it->last ? it : nullptr;
}

uint8_t combining_class(char32_t code_point) {
  const CombiningClassRange* range =
      find_range(nfc_data::kCombiningClasses, nfc_data::kCombiningClassCount, code_point);
  return range ? range->combining_class : 0;
}

bool in(const CodePointRange* ranges, size_t count, char32_t code_point) {
  return find_range(ranges, count, code_point) != nullptr;
}

}  // namespace

size_t find_possibly_unnormalized(std::string_view text) {
  uint8_t previous_class = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const char32_t code_point = decode_code_point(text, pos);
    if (code_point < kFirstInteresting) {
      previous_class = 0;
      continue;
    }
    const uint8_t current_class = combining_class(code_point);
    // Marks out of canonical order, characters NFC never produces, and marks that might
    // compose with what precedes them all need real normalization.
    if ((current_class != 0 && previous_class > current_class) ||
        in(nfc_data::kQuickCheckNo, nfc_data::kQuickCheckNoCount, code_point) ||
        in(nfc_data::kQuickCheckMaybe, nfc_data::kQuickCheckMaybeCount, code_point)) {
      return start;
    }
    previous_class = current_class;
  }
  return std::string_view::npos;
}

}  // namespace tide::tokenizer
