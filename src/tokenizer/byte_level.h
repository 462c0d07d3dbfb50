#pragma once
// The GPT-2 byte-to-unicode alphabet used by byte-level BPE: every byte is shown as one printable
// character, so that vocab entries are readable strings while still covering arbitrary bytes.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tide::tokenizer {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& instance();

  // The UTF-8 encoding of the character that stands for `byte`.
  std::string_view char_for(unsigned char byte) const { return encoded_[byte]; }

  // Appends the alphabet form of `bytes` (what the BPE vocab is written in).
  void append_encoded(std::string_view bytes, std::string& out) const;

  // The bytes a token stands for, as the Hugging Face ByteLevel decoder computes them: mapped
  // back through the alphabet when every character of the token belongs to it, and taken as
  // its own UTF-8 otherwise (which is how added tokens such as "<｜User｜>" come out verbatim).
  std::string token_bytes(std::string_view token) const;

 private:
  ByteLevelAlphabet();
  std::optional<unsigned char> byte_for(char32_t code_point) const;

  std::array<std::string, 256> encoded_;
  // Indexed by code point; the alphabet only uses U+0000..U+0143.
  std::array<int, 0x144> byte_of_code_point_;
};

}  // namespace tide::tokenizer
