#pragma once
// tokenizer.json "normalizer". Byte-level BPE tokenizers of the DeepSeek family use none (null
// or an empty Sequence); anything this build cannot apply exactly is rejected when loading.
#include <optional>
#include <string>
#include <string_view>

#include "tokenizer/json_field.h"

namespace tide::tokenizer {

class Normalizer {
 public:
  Normalizer() = default;
  // `normalizer` is the "normalizer" field; nullopt for null or absent.
  static Normalizer from_json(const std::optional<JsonField>& normalizer);

  // Returns the normalized text: either `text` itself or a view of `storage`.
  std::string_view normalize(std::string_view text, std::string& storage) const;

 private:
  static void collect(const JsonField& normalizer, Normalizer& into);
};

}  // namespace tide::tokenizer
