#include "tokenizer/post_processor.h"

#include "common/error.h"

namespace tide::tokenizer {

PostProcessor PostProcessor::from_json(const std::optional<JsonField>& post_processor) {
  PostProcessor result;
  if (post_processor) result.collect(*post_processor);
  return result;
}

void PostProcessor::collect(const JsonField& post_processor) {
  const JsonField type_field = post_processor["type"];
  const std::string_view type = type_field.as_string();
  if (type == "Sequence") {
    const JsonField steps = post_processor["processors"];
    for (size_t i = 0; i < steps.array_size(); ++i) collect(steps.element(i));
  } else if (type == "TemplateProcessing") {
    add_template(post_processor);
  } else if (type != "ByteLevel") {
    type_field.fail(fmt::format("unsupported post-processor type \"{}\"", type));
  }
}

void PostProcessor::add_template(const JsonField& template_processing) {
  const JsonField special_tokens = template_processing["special_tokens"];
  special_tokens.require_object();
  const JsonField single = template_processing["single"];
  Template result;
  bool sequence_seen = false;
  for (size_t i = 0; i < single.array_size(); ++i) {
    const JsonField piece = single.element(i);
    if (const auto sequence = piece.find("Sequence")) {
      const std::string_view name = (*sequence)["id"].as_string();
      if (name != "A" || sequence_seen) {
        sequence->fail("a single-sequence template must contain sequence \"A\" exactly once");
      }
      sequence_seen = true;
    } else if (const auto special = piece.find("SpecialToken")) {
      const std::string_view name = (*special)["id"].as_string();
      const std::optional<JsonField> entry = special_tokens.find(name);
      if (!entry) {
        special->fail(fmt::format("\"{}\" is not listed in special_tokens", name));
      }
      const JsonField ids = (*entry)["ids"];
      std::vector<int32_t>& side = sequence_seen ? result.after : result.before;
      for (size_t j = 0; j < ids.array_size(); ++j) side.push_back(ids.element(j).as_token_id());
    } else {
      piece.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!sequence_seen) single.fail("the template never places the sequence \"A\"");
  templates_.push_back(std::move(result));
}

std::vector<int32_t> PostProcessor::apply(std::vector<int32_t> ids) const {
  for (const Template& wrap : templates_) {
    if (wrap.before.empty() && wrap.after.empty()) continue;
    std::vector<int32_t> wrapped;
    wrapped.reserve(wrap.before.size() + ids.size() + wrap.after.size());
    wrapped.insert(wrapped.end(), wrap.before.begin(), wrap.before.end());
    wrapped.insert(wrapped.end(), ids.begin(), ids.end());
    wrapped.insert(wrapped.end(), wrap.after.begin(), wrap.after.end());
    ids = std::move(wrapped);
  }
  return ids;
}

std::vector<int32_t> PostProcessor::inserted_ids() const {
  std::vector<int32_t> ids;
  for (const Template& wrap : templates_) {
    ids.insert(ids.end(), wrap.before.begin(), wrap.before.end());
    ids.insert(ids.end(), wrap.after.begin(), wrap.after.end());
  }
  return ids;
}

}  // namespace tide::tokenizer
