// API key files and Authorization headers as an operator or a client could write them: parsing
// the keys (ApiKeys::parse, the format of a key file or TIDE_KEYS) may only refuse with
// tide::Error; a key it accepts authenticates as itself; bearer_token takes any header value.
// Any other exception, crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/error_type.h"
#include "gateway/api_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tide::gateway::ApiKeys;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view token = tide::gateway::bearer_token(input);
  if (!token.empty() && (token.data() < input.data() || token.data() + token.size() > input.data() + input.size()))
    std::abort();  // the token is a view into the header
  try {
    const ApiKeys keys = ApiKeys::parse(input, "fuzz");
    // The first word of the first line, when it was taken as a key, must let its holder in.
    const std::string_view line = input.substr(0, input.find_first_of("\n;"));
    const std::string_view first = line.substr(0, line.find_first_of(" \t\r#"));
    if (keys.size() > 0 && first.size() >= 16 && first.size() == line.size()) {
      const auto info = keys.authenticate(first);
      if (!info || info->fingerprint != tide::gateway::key_fingerprint(first)) std::abort();
    }
  } catch (const tide::Error&) {
  }
  return 0;
}
