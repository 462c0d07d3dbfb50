#include "tokenizer/token_trie.h"

#include <algorithm>

namespace tide::tokenizer {

TokenTrie::TokenTrie() : nodes_(1) { root_children_.fill(-1); }

int32_t TokenTrie::child(int32_t node, unsigned char byte) const {
  if (node == 0) return root_children_[byte];
  const auto& children = nodes_[node].children;
  const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                   [](const auto& entry, unsigned char b) { return entry.first < b; });
  return it != children.end() && it->first == byte ? it->second : -1;
}

void TokenTrie::insert(std::string_view key, int32_t value) {
  int32_t node = 0;
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    int32_t next = child(node, byte);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      if (node == 0) {
        root_children_[byte] = next;
      } else {
        auto& children = nodes_[node].children;
        const auto it = std::lower_bound(
            children.begin(), children.end(), byte,
            [](const auto& entry, unsigned char b) { return entry.first < b; });
        children.insert(it, {byte, next});
      }
    }
    node = next;
  }
  nodes_[node].value = value;
}

std::optional<TokenTrie::Match> TokenTrie::longest_prefix(std::string_view text) const {
  std::optional<Match> best;
  int32_t node = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    node = child(node, static_cast<unsigned char>(text[i]));
    if (node < 0) break;
    if (nodes_[node].value >= 0) best = Match{i + 1, nodes_[node].value};
  }
  return best;
}

}  // namespace tide::tokenizer
