#pragma once
// tokenizer.json "post_processor": what encode(..., add_special_tokens=true) wraps around the
// ids of a single sequence. TemplateProcessing's "single" template (e.g. BOS + text for Llama 3)
// is applied; ByteLevel only adjusts offsets, which Tide does not track, so it changes no ids.
#include <cstdint>
#include <optional>
#include <vector>

#include "tokenizer/json_field.h"

namespace tide::tokenizer {

class PostProcessor {
 public:
  PostProcessor() = default;
  // `post_processor` is the "post_processor" field; nullopt for null or absent.
  static PostProcessor from_json(const std::optional<JsonField>& post_processor);

  std::vector<int32_t> apply(std::vector<int32_t> ids) const;
  // Every id a template can insert, for checking them against the vocabulary.
  std::vector<int32_t> inserted_ids() const;

 private:
  // One template: fixed ids before and after the sequence ("A").
  struct Template {
    std::vector<int32_t> before;
    std::vector<int32_t> after;
  };
  void collect(const JsonField& post_processor);
  void add_template(const JsonField& template_processing);

  std::vector<Template> templates_;  // applied in order, as a Sequence does
};

}  // namespace tide::tokenizer
