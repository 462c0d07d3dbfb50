#pragma once
// tokenizer.json "pre_tokenizer": cuts normalized text into words before BPE. Supported are
// Split (regex or literal, every delimiter behaviour), Digits, ByteLevel and Sequences of them,
// with exactly one ByteLevel step and nothing after it, because later steps would see the
// byte-level alphabet rather than text.
#include <functional>
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

  // Calls `word` with each of the words of `text` that BPE sees, in order (as raw bytes; the
  // byte-level alphabet is applied by the model). The views are valid during the call only.
  void split(std::string_view text, const std::function<void(std::string_view)>& word) const;

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
  void apply_from(size_t step, std::string_view piece,
                  const std::function<void(std::string_view)>& word) const;

  std::vector<Step> steps_;
  bool byte_level_seen_ = false;
};

}  // namespace tide::tokenizer
