#include "tokenizer/byte_level.h"

#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

// Bytes that GPT-2 shows as themselves; every other byte is moved to U+0100 and up, in order.
bool is_printable_as_itself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

}  // namespace

const ByteLevelAlphabet& ByteLevelAlphabet::instance() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_code_point_.fill(-1);
  char32_t next_shifted = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t code_point = is_printable_as_itself(byte) ? byte : next_shifted++;
    append_code_point(code_point, encoded_[byte]);
    byte_of_code_point_[code_point] = byte;
  }
}

void ByteLevelAlphabet::append_encoded(std::string_view bytes, std::string& out) const {
  for (const char byte : bytes) out.append(encoded_[static_cast<unsigned char>(byte)]);
}

std::optional<unsigned char> ByteLevelAlphabet::byte_for(char32_t code_point) const {
  if (code_point >= byte_of_code_point_.size() || byte_of_code_point_[code_point] < 0) {
    return std::nullopt;
  }
  return static_cast<unsigned char>(byte_of_code_point_[code_point]);
}

std::string ByteLevelAlphabet::token_bytes(std::string_view token) const {
  std::string bytes;
  bytes.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const std::optional<unsigned char> byte = byte_for(decode_code_point(token, pos));
    if (!byte) return std::string(token);
    bytes.push_back(static_cast<char>(*byte));
  }
  return bytes;
}

}  // namespace tide::tokenizer
