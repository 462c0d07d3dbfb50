#pragma once
// The Unicode NFC quick check (UAX #15, section 9). Qwen-family tokenizers ask for NFC; full
// normalization needs the decomposition and composition tables, which Tide does not carry. Text
// the quick check passes is already NFC, so normalizing it is the identity; everything else is
// reported to the caller rather than tokenized differently from the reference.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tide::tokenizer {

struct CodePointRange {
  char32_t first;
  char32_t last;
};

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};

namespace nfc_data {
extern const CodePointRange kQuickCheckNo[];
extern const size_t kQuickCheckNoCount;
extern const CodePointRange kQuickCheckMaybe[];
extern const size_t kQuickCheckMaybeCount;
extern const CombiningClassRange kCombiningClasses[];
extern const size_t kCombiningClassCount;
}  // namespace nfc_data

// Byte offset of the first character at which `text` (valid UTF-8) might not be in NFC, or
// std::string_view::npos when it certainly is.
size_t find_possibly_unnormalized(std::string_view text);

}  // namespace tide::tokenizer
