#pragma once
// A byte trie over the added tokens. Scanning the text position by position and taking the
// longest token that starts there yields the leftmost-longest matches that the reference gets
// from Aho-Corasick; added tokens are short (tens of bytes), so the walk from each position is
// bounded and most positions stop at the root.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace tide::tokenizer {

class TokenTrie {
 public:
  struct Match {
    size_t length;
    int32_t value;
  };

  TokenTrie();
  // `key` must not be empty. A later insert of the same key replaces the value.
  void insert(std::string_view key, int32_t value);
  // The longest key that is a prefix of `text`.
  std::optional<Match> longest_prefix(std::string_view text) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t value = -1;
  };
  int32_t child(int32_t node, unsigned char byte) const;

  std::vector<Node> nodes_;
  // The root is consulted at every text position, so its children get a direct table.
  std::array<int32_t, 256> root_children_;
};

}  // namespace tide::tokenizer
