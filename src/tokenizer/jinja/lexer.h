#pragma once
// Splits template text into tokens the way Jinja's lexer does, including the whitespace rules
// that decide the exact bytes of a prompt: "{%-"/"-%}" strip whitespace around a tag, and with
// trim_blocks/lstrip_blocks (both on in transformers) a block tag also eats the newline after
// it and the indentation before it. Comments are dropped here; raw blocks become plain text.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/jinja/source.h"

namespace tide::jinja {

struct SyntaxOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

enum class TokenKind { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End };

struct Token {
  TokenKind kind;
  uint32_t offset;   // byte offset in the source
  std::string text;  // data, name, operator, or the unescaped string literal
  int64_t integer = 0;
  double floating = 0;
};

std::vector<Token> tokenize(const Source& source, const SyntaxOptions& options);

}  // namespace tide::jinja
