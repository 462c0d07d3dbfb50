#pragma once
// Streaming detokenization: ids arrive one at a time during generation and each push returns the
// text that is now final. Bytes of a character split across tokens are held back until the
// character completes; a sequence that turns out invalid is emitted as U+FFFD exactly where
// decode() would put it. The concatenation of every push() and finish() equals decode() of all
// the ids, and each returned piece is valid UTF-8 on its own.
#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace tide::tokenizer {

class IncrementalDetokenizer {
 public:
  // Keeps a copy of `tokenizer`, which shares the loaded data, so no lifetime ties arise.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // Throws tide::Error for an out-of-range id, as decode() does.
  std::string push(int32_t id);
  // Returns what is still held back (an unfinished character becomes U+FFFD) and starts over.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // at most the first three bytes of one unfinished character
};

}  // namespace tide::tokenizer
