#include "tokenizer/normalizer.h"

#include "common/error.h"

namespace tide::tokenizer {

Normalizer Normalizer::from_json(const std::optional<JsonField>& normalizer) {
  Normalizer result;
  if (normalizer) collect(*normalizer, result);
  return result;
}

void Normalizer::collect(const JsonField& normalizer, Normalizer& into) {
  const std::string_view type = normalizer["type"].as_string();
  if (type == "Sequence") {
    const JsonField steps = normalizer["normalizers"];
    for (size_t i = 0; i < steps.array_size(); ++i) collect(steps.element(i), into);
    return;
  }
  normalizer["type"].fail(fmt::format("unsupported normalizer type \"{}\"", type));
}

std::string_view Normalizer::normalize(std::string_view text, std::string& /*storage*/) const {
  return text;
}

}  // namespace tide::tokenizer
