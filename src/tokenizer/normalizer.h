#pragma once
// tokenizer.json "normalizer". Byte-level BPE tokenizers of the DeepSeek and Llama 3 families use
// none (null or an empty Sequence); Qwen's use NFC, which is applied to text that the NFC quick
// check passes (all but rare decomposed input) and reported as an error for the rest. Other
// normalizers are rejected when loading, since they cannot be applied exactly.
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

  // Returns the normalized text: either `text` itself or a view of `storage`. Throws
  // tide::Error for text this build cannot normalize exactly.
  std::string_view normalize(std::string_view text, std::string& storage) const;

 private:
  void collect(const JsonField& normalizer);

  // Where NFC was asked for ("tokenizer.json: normalizer"); empty when it was not.
  std::string nfc_location_;
};

}  // namespace tide::tokenizer
