#pragma once
// UTF-8 handling shared by encoding and decoding. Decoding has to reproduce the Hugging Face
// ByteLevel decoder byte for byte, and that decoder ends in Rust's String::from_utf8_lossy, so the
// replacement rule here is Rust's: each maximal prefix of a would-be sequence that cannot be
// completed becomes one U+FFFD ("substitution of maximal subparts", Unicode 15, section 3.9).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tide::tokenizer {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// What sits at the start of some bytes: a complete character, the beginning of one that the bytes
// end too early to finish, or bytes that can never be valid.
struct Utf8Sequence {
  enum class Kind { kComplete, kTruncated, kInvalid };
  Kind kind;
  // Bytes taken: the whole character, the truncated prefix, or the invalid maximal subpart (>= 1).
  size_t length;
};

// Classifies the sequence starting at bytes[0]; `bytes` must not be empty.
Utf8Sequence next_utf8_sequence(std::string_view bytes);

bool is_valid_utf8(std::string_view bytes);

// Appends `bytes` to `out` with every invalid or truncated sequence replaced by U+FFFD.
void append_utf8_lossy(std::string_view bytes, std::string& out);

// Like append_utf8_lossy, but a truncated character at the very end is left out instead of
// replaced, because more bytes may still complete it. Returns how many bytes were consumed.
size_t append_utf8_lossy_holding_tail(std::string_view bytes, std::string& out);

void append_code_point(char32_t code_point, std::string& out);

// Decodes the character starting at text[pos] of already validated UTF-8 and advances `pos`.
char32_t decode_code_point(std::string_view text, size_t& pos);

}  // namespace tide::tokenizer
