#pragma once
// Added tokens (tokenizer.json "added_tokens"): strings such as "<｜User｜>" that are cut out of
// the input before normalization and BPE, so that they always become their own single id.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_field.h"
#include "tokenizer/string_hash.h"
#include "tokenizer/token_trie.h"

namespace tide::tokenizer {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool normalized = false;   // matched against normalized text rather than the raw input
};

// A stretch of input: either one added token or plain text for the rest of the pipeline.
struct TextPiece {
  std::string_view text;
  std::optional<int32_t> token_id;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `added_tokens` is the "added_tokens" array (may be absent: pass nullopt).
  static AddedVocabulary from_json(const std::optional<JsonField>& added_tokens);

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(std::string_view content) const;

  // Splits `text` around the added tokens whose `normalized` flag equals `normalized`: the raw
  // input is split by the others first, then each normalized remainder by these.
  void split(std::string_view text, bool normalized, std::vector<TextPiece>& pieces) const;

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> index_of_content_;
  TokenTrie raw_trie_;         // tokens matched before normalization
  TokenTrie normalized_trie_;  // tokens matched after it
};

}  // namespace tide::tokenizer
