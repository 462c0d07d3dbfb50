#include "tokenizer/token_table.h"

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "tokenizer/byte_level.h"

namespace tide::tokenizer {
namespace {

struct Entry {
  int32_t id;
  std::string_view text;
  bool special;
  bool added;
};

void check_added_tokens_agree_with_vocab(const BpeModel& model, const AddedVocabulary& added,
                                         std::string_view origin) {
  for (const AddedToken& token : added.tokens()) {
    if (const auto id = model.token_id(token.content); id && *id != token.id) {
      fail("{}: added token \"{}\" has id {} but the vocab gives it id {}", origin, token.content,
           token.id, *id);
    }
  }
}

// Entries sharing an id must be the same token (an added token repeating its vocab entry).
void check_same_id_same_text(const Entry& first, const Entry& second, std::string_view origin) {
  if (first.text == second.text) return;
  if (first.added) {
    fail("{}: added token \"{}\" has id {}, which the vocab already gives to \"{}\"", origin,
         first.text, first.id, second.text);
  }
  fail("{}: model.vocab: id {} is given to both \"{}\" and \"{}\"", origin, first.id,
       std::min(first.text, second.text), std::max(first.text, second.text));
}

}  // namespace

TokenTable::TokenTable(const BpeModel& model, const AddedVocabulary& added,
                       std::string_view origin) {
  check_added_tokens_agree_with_vocab(model, added, origin);
  std::vector<Entry> entries;
  entries.reserve(model.vocab().size() + added.tokens().size());
  for (const AddedToken& token : added.tokens()) {
    entries.push_back({token.id, token.content, token.special, true});
  }
  for (const auto& [text, id] : model.vocab()) entries.push_back({id, text, false, false});
  // Stable, so that for an id that is both an added token and a vocab entry the added token,
  // which carries the special flag, comes first.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.id < b.id; });

  const int32_t count = entries.empty() ? 0 : entries.back().id + 1;
  text_offsets_.reserve(count + 1);
  byte_offsets_.reserve(count + 1);
  special_.assign(count, false);
  used_.assign(count, false);
  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
  auto entry = entries.begin();
  for (int32_t id = 0; id < count; ++id) {
    text_offsets_.push_back(static_cast<uint32_t>(texts_.size()));
    byte_offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
    if (entry != entries.end() && entry->id == id) {
      texts_.append(entry->text);
      bytes_.append(alphabet.token_bytes(entry->text));
      special_[id] = entry->special;
      used_[id] = true;
      for (auto same = entry + 1; same != entries.end() && same->id == id; ++same) {
        check_same_id_same_text(*entry, *same, origin);
      }
      while (entry != entries.end() && entry->id == id) ++entry;
    }
    if (texts_.size() > std::numeric_limits<uint32_t>::max() ||
        bytes_.size() > std::numeric_limits<uint32_t>::max()) {
      fail("{}: the vocabulary text exceeds 4 GiB", origin);
    }
  }
  text_offsets_.push_back(static_cast<uint32_t>(texts_.size()));
  byte_offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
}

}  // namespace tide::tokenizer
