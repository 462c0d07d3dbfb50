#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The second byte of a multi-byte character has a narrower range than later continuation bytes:
// that is what rules out overlong forms, surrogates and values above U+10FFFF.
bool second_byte_allowed(unsigned char lead, unsigned char second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return is_continuation(second);
  }
}

size_t sequence_length_for_lead(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

Utf8Sequence next_utf8_sequence(std::string_view bytes) {
  const auto lead = static_cast<unsigned char>(bytes[0]);
  const size_t needed = sequence_length_for_lead(lead);
  if (needed == 0) return {Utf8Sequence::Kind::kInvalid, 1};
  for (size_t i = 1; i < needed; ++i) {
    if (i >= bytes.size()) return {Utf8Sequence::Kind::kTruncated, i};
    const auto byte = static_cast<unsigned char>(bytes[i]);
    const bool allowed = i == 1 ? second_byte_allowed(lead, byte) : is_continuation(byte);
    if (!allowed) return {Utf8Sequence::Kind::kInvalid, i};
  }
  return {Utf8Sequence::Kind::kComplete, needed};
}

bool is_valid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Sequence sequence = next_utf8_sequence(bytes.substr(pos));
    if (sequence.kind != Utf8Sequence::Kind::kComplete) return false;
    pos += sequence.length;
  }
  return true;
}

size_t append_utf8_lossy_holding_tail(std::string_view bytes, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Sequence sequence = next_utf8_sequence(bytes.substr(pos));
    switch (sequence.kind) {
      case Utf8Sequence::Kind::kComplete:
        out.append(bytes.substr(pos, sequence.length));
        break;
      case Utf8Sequence::Kind::kTruncated:
        return pos;
      case Utf8Sequence::Kind::kInvalid:
        out.append(kReplacementCharacter);
        break;
    }
    pos += sequence.length;
  }
  return pos;
}

void append_utf8_lossy(std::string_view bytes, std::string& out) {
  const size_t consumed = append_utf8_lossy_holding_tail(bytes, out);
  // Only a truncated final character can be left over, and it becomes a single U+FFFD.
  if (consumed < bytes.size()) out.append(kReplacementCharacter);
}

void append_code_point(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

char32_t decode_code_point(std::string_view text, size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const size_t length = sequence_length_for_lead(lead);
  char32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  }
  pos += length;
  return code_point;
}

}  // namespace tide::tokenizer
