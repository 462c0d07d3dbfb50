#pragma once
// Turns one request's generated tokens into text deltas for streaming, and applies stop
// strings: output ends right before the first occurrence of any stop string (or after it, when
// asked to include it). Text that might be the start of a stop string is held back until it is
// clear it is not, so a client never sees text that is later cut.
#include <string>
#include <vector>

#include "tokenizer/incremental_detokenizer.h"

namespace tide {

class OutputProcessor {
 public:
  OutputProcessor(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop, bool include_stop);

  struct Delta {
    std::string text;
    bool stopped = false;  // a stop string matched; the request is finished
  };
  Delta push(int32_t token);
  // The held-back text, at the end of the request.
  std::string finish();

 private:
  Delta scan();

  tokenizer::IncrementalDetokenizer detok_;
  std::vector<std::string> stop_;
  bool include_stop_;
  std::string pending_;  // decoded, not yet emitted
  std::size_t longest_stop_ = 0;
};

}  // namespace tide
