#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

// Unicode White_Space, which is what the reference's "\s" means when it strips around tokens.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// The reference's "\w" (Unicode word character), used for single_word tokens.
bool is_word_character(std::string_view character) {
  static const Regex word(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}])",
                          "word-character class");
  return word.matches_at_start(character);
}

size_t last_character_start(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

bool ends_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text.substr(last_character_start(text)));
}

bool starts_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text);
}

// Where the run of whitespace that ends `text` begins.
size_t trailing_space_start(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const size_t start = last_character_start(text.substr(0, end));
    size_t pos = start;
    if (!is_white_space(decode_code_point(text, pos))) break;
    end = start;
  }
  return end;
}

size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!is_white_space(decode_code_point(text, next))) break;
    pos = next;
  }
  return pos;
}

AddedToken read_added_token(const JsonField& entry) {
  entry.require_object();
  AddedToken token;
  token.id = entry["id"].as_token_id();
  token.content = std::string(entry["content"].as_string());
  token.special = entry.optional_bool("special", false);
  token.single_word = entry.optional_bool("single_word", false);
  token.lstrip = entry.optional_bool("lstrip", false);
  token.rstrip = entry.optional_bool("rstrip", false);
  token.normalized = entry.optional_bool("normalized", !token.special);
  return token;
}

}  // namespace

AddedVocabulary AddedVocabulary::from_json(const std::optional<JsonField>& added_tokens) {
  AddedVocabulary vocabulary;
  if (!added_tokens) return vocabulary;
  std::unordered_map<int32_t, size_t> index_of_id;
  const size_t count = added_tokens->array_size();
  vocabulary.tokens_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const JsonField entry = added_tokens->element(i);
    AddedToken token = read_added_token(entry);
    const auto same_id = index_of_id.find(token.id);
    const auto same_content = vocabulary.index_of_content_.find(token.content);
    if (same_id != index_of_id.end() || same_content != vocabulary.index_of_content_.end()) {
      // The same token listed twice is harmless; one id with two meanings is not.
      const bool identical = same_id != index_of_id.end() &&
                             vocabulary.tokens_[same_id->second].content == token.content;
      if (identical) continue;
      if (same_id != index_of_id.end()) {
        entry.fail(fmt::format("id {} is already used by added token \"{}\"", token.id,
                               vocabulary.tokens_[same_id->second].content));
      }
      entry.fail(fmt::format("\"{}\" is already an added token with id {}", token.content,
                             vocabulary.tokens_[same_content->second].id));
    }
    const size_t index = vocabulary.tokens_.size();
    index_of_id.emplace(token.id, index);
    vocabulary.index_of_content_.emplace(token.content, index);
    vocabulary.tokens_.push_back(std::move(token));
  }
  for (size_t index = 0; index < vocabulary.tokens_.size(); ++index) {
    const AddedToken& token = vocabulary.tokens_[index];
    if (token.content.empty()) continue;  // matches nothing, as in the reference
    TokenTrie& trie = token.normalized ? vocabulary.normalized_trie_ : vocabulary.raw_trie_;
    trie.insert(token.content, static_cast<int32_t>(index));
  }
  return vocabulary;
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  const auto it = index_of_content_.find(content);
  return it == index_of_content_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocabulary::split(std::string_view text, bool normalized,
                            std::vector<TextPiece>& pieces) const {
  const TokenTrie& trie = normalized ? normalized_trie_ : raw_trie_;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const std::optional<TokenTrie::Match> match = trie.longest_prefix(text.substr(pos));
    if (!match) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[match->value];
    size_t start = pos;
    size_t stop = pos + match->length;
    pos = stop;
    if (token.single_word && (ends_with_word(text.substr(0, start)) ||
                              starts_with_word(text.substr(stop)))) {
      continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), plain_start);
    if (token.rstrip) {
      stop += leading_space_length(text.substr(stop));
      // Scanning resumes after the swallowed whitespace so that pieces never overlap.
      pos = stop;
    }
    if (plain_start < start) pieces.push_back({text.substr(plain_start, start - plain_start), {}});
    pieces.push_back({text.substr(start, stop - start), token.id});
    plain_start = stop;
  }
  if (plain_start < text.size()) pieces.push_back({text.substr(plain_start), {}});
}

}  // namespace tide::tokenizer
