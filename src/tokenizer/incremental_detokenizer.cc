#include "tokenizer/incremental_detokenizer.h"

#include "tokenizer/utf8.h"

namespace tide::tokenizer {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (id >= 0 && !tokenizer_.names(id)) return {};  // a padding row of the model's vocabulary
  const std::string_view bytes = tokenizer_.token_bytes(id);
  if (skip_special_tokens_ && tokenizer_.is_special(id)) return {};
  pending_.append(bytes);
  // Everything up to an unfinished final character is settled: a later byte can only extend
  // that character, never change how the bytes before it decode.
  std::string text;
  const size_t consumed = append_utf8_lossy_holding_tail(pending_, text);
  pending_.erase(0, consumed);
  return text;
}

std::string IncrementalDetokenizer::finish() {
  std::string text;
  append_utf8_lossy(pending_, text);
  pending_.clear();
  return text;
}

}  // namespace tide::tokenizer
