// Both parsers that read a model directory before any weight is touched: the safetensors header
// and config.json. The first byte picks the parser, so one corpus explores both. Rejecting input
// with tide::Error is the contract; any other exception, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/error.h"
#include "common/json_file.h"
#include "model/checkpoint/safetensors.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool config_mode = data[0] & 1;
  const auto* rest = reinterpret_cast<const std::byte*>(data + 1);
  try {
    if (config_mode) {
      std::string_view text(reinterpret_cast<const char*>(rest), size - 1);
      tide::parse_model_config(tide::parse_json(text, "config.json"), "config.json");
    } else {
      tide::parse_safetensors_header(std::span<const std::byte>(rest, size - 1), "model.safetensors");
    }
  } catch (const tide::Error&) {
  }
  return 0;
}
