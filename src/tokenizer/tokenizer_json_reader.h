#pragma once
// Reads tokenizer.json in one streaming pass. The two huge members, model.vocab (~128k entries)
// and model.merges (~127k pairs), go straight into flat vectors; building them as a JSON tree
// (a std::map per object, a vector per pair) would take most of the load time. Everything else
// becomes an ordinary nlohmann::json for the component readers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tide::tokenizer {

struct BpeTables {
  // Present only when model.vocab / model.merges were an object / an array; otherwise the
  // value stays in the tree, where the model reader reports its type.
  std::optional<std::vector<std::pair<std::string, int64_t>>> vocab;
  std::optional<std::vector<std::pair<std::string, std::string>>> merges;
};

struct TokenizerJson {
  nlohmann::json tree;  // the document without the members captured in `bpe`
  BpeTables bpe;
};

// Throws tide::Error naming `origin` for malformed JSON, and for vocab values that are not
// integers or merges that are neither "left right" strings nor pairs of strings.
TokenizerJson read_tokenizer_json(std::string_view text, std::string_view origin);

}  // namespace tide::tokenizer
