#include "tokenizer/normalizer.h"

#include "common/error.h"
#include "tokenizer/nfc_quick_check.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {

Normalizer Normalizer::from_json(const std::optional<JsonField>& normalizer) {
  Normalizer result;
  if (normalizer) result.collect(*normalizer);
  return result;
}

void Normalizer::collect(const JsonField& normalizer) {
  const std::string_view type = normalizer["type"].as_string();
  if (type == "Sequence") {
    const JsonField steps = normalizer["normalizers"];
    for (size_t i = 0; i < steps.array_size(); ++i) collect(steps.element(i));
  } else if (type == "NFC") {
    nfc_location_ = normalizer.location();
  } else {
    normalizer["type"].fail(fmt::format("unsupported normalizer type \"{}\"", type));
  }
}

std::string_view Normalizer::normalize(std::string_view text, std::string& /*storage*/) const {
  if (nfc_location_.empty()) return text;
  const size_t pos = find_possibly_unnormalized(text);
  if (pos != std::string_view::npos) {
    size_t end = pos;
    const char32_t code_point = decode_code_point(text, end);
    fail("cannot encode text that is not in Unicode NFC: U+{:04X} at byte {} would need "
         "composing or reordering, which is not implemented ({} asks for NFC; send "
         "NFC-normalized text)",
         static_cast<uint32_t>(code_point), pos, nfc_location_);
  }
  return text;
}

}  // namespace tide::tokenizer
