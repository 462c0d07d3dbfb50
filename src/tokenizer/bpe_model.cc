#include "tokenizer/bpe_model.h"

#include <functional>
#include <queue>

#include "common/error.h"
#include "tokenizer/byte_level.h"

namespace tide::tokenizer {
namespace {

// A merge waiting in the queue, packed as rank << 32 | position of its left symbol, so that the
// smallest value is the reference's next merge: lowest rank, then leftmost.
using Candidate = uint64_t;

Candidate make_candidate(uint32_t rank, int32_t pos) {
  return (uint64_t{rank} << 32) | static_cast<uint32_t>(pos);
}

void reject_unsupported_options(const JsonField& model) {
  if (const auto dropout = model.find("dropout")) {
    if (!dropout->json().is_number() || dropout->json().get<double>() != 0.0) {
      dropout->fail("BPE dropout is not supported (inference needs deterministic tokenization)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto affix = model.find(key); affix && !affix->as_string().empty()) {
      affix->fail("subword prefixes/suffixes are not supported (only byte-level BPE is)");
    }
  }
  if (model.optional_bool("byte_fallback", false)) {
    model["byte_fallback"].fail("byte_fallback is not supported (only byte-level BPE is)");
  }
}

}  // namespace

BpeModel BpeModel::from_json(const JsonField& model, BpeTables tables) {
  model.require_object();
  const std::optional<std::string_view> type = model.optional_string("type");
  if (type && *type != "BPE") {
    model["type"].fail(fmt::format("unsupported model type \"{}\" (only BPE is supported)", *type));
  }
  reject_unsupported_options(model);
  // The reader leaves the members in the tree when they have the wrong type; asking the tree
  // then reports that type, or the member's absence.
  if (!tables.vocab) model["vocab"].fail("expected an object mapping tokens to ids");
  if (!tables.merges) model["merges"].fail("expected an array of merges");

  BpeModel bpe;
  bpe.read_vocab(model, std::move(*tables.vocab));
  bpe.read_merges(model, *tables.merges);
  bpe.fuse_unk_ = model.optional_bool("fuse_unk", false);
  bpe.ignore_merges_ = model.optional_bool("ignore_merges", false);
  if (const auto unk = model.optional_string("unk_token")) {
    bpe.unk_id_ = bpe.token_id(*unk);
    if (!bpe.unk_id_) model["unk_token"].fail(fmt::format("\"{}\" is not in the vocab", *unk));
  }
  const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
  for (int byte = 0; byte < 256; ++byte) {
    bpe.byte_ids_[byte] = bpe.token_id(alphabet.char_for(byte)).value_or(-1);
  }
  return bpe;
}

void BpeModel::read_vocab(const JsonField& model,
                          std::vector<std::pair<std::string, int64_t>> vocab) {
  vocab_.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    if (id < 0 || id > kMaxTokenId) {
      model.fail_at(fmt::format("vocab.{}", token),
                    fmt::format("token id {} is out of range (ids must be in 0..{})", id,
                                kMaxTokenId));
    }
    // Two tokens sharing an id are reported by the token table, which sorts by id anyway.
    vocab_.insert_or_assign(std::move(token), static_cast<int32_t>(id));
  }
}

void BpeModel::read_merges(const JsonField& model,
                           const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.reserve(merges.size());
  std::string merged;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    merged.assign(left).append(right);
    const std::optional<int32_t> left_id = token_id(left);
    const std::optional<int32_t> right_id = token_id(right);
    const std::optional<int32_t> merged_id = token_id(merged);
    for (const auto& [part, id] : {std::pair{std::string_view(left), left_id},
                                   std::pair{std::string_view(right), right_id},
                                   std::pair{std::string_view(merged), merged_id}}) {
      if (!id) {
        model.fail_at(fmt::format("merges[{}]", rank),
                      fmt::format("token \"{}\" is not in the vocab", part));
      }
    }
    // A repeated pair keeps its last rank, as in the reference implementation.
    merges_.insert_or_assign(*left_id, *right_id, Merge{static_cast<uint32_t>(rank), *merged_id});
  }
}

std::optional<int32_t> BpeModel::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::vector<BpeModel::Symbol> BpeModel::initial_symbols(std::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  bool previous_was_unknown = false;
  for (const char c : word) {
    int32_t id = byte_ids_[static_cast<unsigned char>(c)];
    const bool unknown = id < 0;
    if (unknown) {
      // Without an unknown token the reference drops the byte; with fuse_unk a run of
      // unknown bytes becomes a single unknown token.
      if (!unk_id_ || (fuse_unk_ && previous_was_unknown)) continue;
      id = *unk_id_;
    }
    previous_was_unknown = unknown;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{id, index - 1, index + 1, false});
  }
  if (!symbols.empty()) symbols.back().next = -1;
  return symbols;
}

void BpeModel::merge_symbols(std::vector<Symbol>& symbols) const {
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto consider = [&](int32_t pos) {
    const Symbol& left = symbols[pos];
    if (left.next < 0) return;
    if (const Merge* merge = merges_.find(left.id, symbols[left.next].id)) {
      queue.push(make_candidate(merge->rank, pos));
    }
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) consider(pos);

  while (!queue.empty()) {
    const auto rank = static_cast<uint32_t>(queue.top() >> 32);
    const auto pos = static_cast<int32_t>(queue.top() & 0xFFFFFFFF);
    queue.pop();
    Symbol& left = symbols[pos];
    if (left.merged_away || left.next < 0) continue;
    // Entries go stale when a neighbour merged since they were queued; each rank belongs to one
    // pair, so an unchanged rank means an unchanged pair.
    const Merge* merge = merges_.find(left.id, symbols[left.next].id);
    if (merge == nullptr || merge->rank != rank) continue;

    Symbol& right = symbols[left.next];
    left.id = merge->merged_id;
    left.next = right.next;
    right.merged_away = true;
    if (left.next >= 0) symbols[left.next].prev = pos;
    if (left.prev >= 0) consider(left.prev);
    consider(pos);
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    std::string encoded;
    ByteLevelAlphabet::instance().append_encoded(word, encoded);
    if (const auto it = vocab_.find(encoded); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  std::vector<Symbol> symbols = initial_symbols(word);
  merge_symbols(symbols);
  for (const Symbol& symbol : symbols) {
    if (!symbol.merged_away) ids.push_back(symbol.id);
  }
}

}  // namespace tide::tokenizer
