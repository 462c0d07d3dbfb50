#pragma once
// Everything known about each id, stored densely for decoding: the token's text (an added
// token's content wins over a vocab entry, as in the reference decoder), the bytes it stands for,
// and whether it is a special token.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"

namespace tide::tokenizer {

class TokenTable {
 public:
  TokenTable() = default;
  // Throws tide::Error naming `origin` when the vocab and the added tokens disagree about an id.
  TokenTable(const BpeModel& model, const AddedVocabulary& added, std::string_view origin);

  // One past the largest id; ids below it may still be unused (then text and bytes are empty).
  int32_t size() const { return static_cast<int32_t>(special_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }
  bool is_used(int32_t id) const { return contains(id) && used_[id]; }
  std::string_view text(int32_t id) const { return slice(texts_, text_offsets_, id); }
  std::string_view bytes(int32_t id) const { return slice(bytes_, byte_offsets_, id); }
  bool is_special(int32_t id) const { return special_[id]; }

 private:
  static std::string_view slice(const std::string& arena, const std::vector<uint32_t>& offsets,
                                int32_t id) {
    return std::string_view(arena).substr(offsets[id], offsets[id + 1] - offsets[id]);
  }

  // Token i occupies [offsets[i], offsets[i + 1]) of its arena; one arena per kind keeps the
  // table at a few bytes per id.
  std::string texts_;
  std::string bytes_;
  std::vector<uint32_t> text_offsets_;
  std::vector<uint32_t> byte_offsets_;
  std::vector<bool> special_;
  std::vector<bool> used_;
};

}  // namespace tide::tokenizer
