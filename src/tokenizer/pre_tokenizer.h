#pragma once
// tokenizer.json "pre_tokenizer": cuts normalized text into words before BPE. Supported are
// Split (regex or literal, every delimiter behaviour), Digits, ByteLevel and Sequences of them,
// with exactly one ByteLevel step and nothing after it, because later steps would see the
// byte-level alphabet rather than text.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_field.h"
#include "tokenizer/regex.h"

namespace tide::tokenizer {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class PreTokenizer {
 public:
  // `pre_tokenizer` is the "pre_tokenizer" field; it must contain a ByteLevel step.
  static PreTokenizer from_json(const std::optional<JsonField>& pre_tokenizer,
                                std::string_view origin);

  // Splits `text` into the words that BPE sees (as raw bytes; the byte-level alphabet is
  // applied by the model).
  std::vector<std::string> split(std::string_view text) const;

 private:
  struct Step {
    std::optional<Regex> pattern;  // absent: the step does not split
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool prefix_space = false;  // ByteLevel add_prefix_space: only on the ByteLevel step
  };
  void collect(const JsonField& pre_tokenizer);
  void add_split(const JsonField& split);
  void add_byte_level(const JsonField& byte_level);

  std::vector<Step> steps_;
  bool byte_level_seen_ = false;
};

}  // namespace tide::tokenizer
