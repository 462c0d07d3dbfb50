#pragma once
// Byte-level BPE: a pre-tokenized word is split into single bytes (each one a character of the
// GPT-2 alphabet, hence a vocab entry) and adjacent pieces are merged lowest rank first, exactly
// as the Hugging Face BPE model does.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_field.h"
#include "tokenizer/merge_table.h"
#include "tokenizer/string_hash.h"
#include "tokenizer/tokenizer_json_reader.h"

namespace tide::tokenizer {

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object; `tables` its vocab and merges, read separately.
  static BpeModel from_json(const JsonField& model, BpeTables tables);

  // Appends the ids of one pre-tokenized word, given as raw bytes.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  const StringIdMap& vocab() const { return vocab_; }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;  // index of the previous live symbol, -1 at the start
    int32_t next;  // index of the next live symbol, -1 at the end
    bool merged_away;
  };

  void read_vocab(const JsonField& model, std::vector<std::pair<std::string, int64_t>> vocab);
  void read_merges(const JsonField& model,
                   const std::vector<std::pair<std::string, std::string>>& merges);
  std::vector<Symbol> initial_symbols(std::string_view word) const;
  void merge_symbols(std::vector<Symbol>& symbols) const;

  StringIdMap vocab_;
  MergeTable merges_;
  // Vocab id of each byte's alphabet character, -1 when the vocab lacks it.
  std::array<int32_t, 256> byte_ids_{};
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  // When set, a word that is itself a vocab entry is taken whole, skipping the merges.
  bool ignore_merges_ = false;
};

}  // namespace tide::tokenizer
