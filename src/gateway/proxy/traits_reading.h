#pragma once
// The two readings of a request body behind inspect_generation_request (request_inspector.h).
// The fast one (simdjson: the whole text validated with SIMD instructions, then a walk of its
// document) answers for the bodies it accepts; every other body, and so every refusal, goes to
// the reference one (nlohmann's parser), whose messages name the position at fault. Both give
// the same traits for every body the fast one accepts (a differential fuzz target checks it).
#include <optional>
#include <string>
#include <string_view>

#include "gateway/proxy/endpoint.h"

namespace tide::gateway::detail {

// Routing looks at the prompt's beginning only; bounded so a huge prompt costs no more.
constexpr std::size_t kPrefixChars = 8192;

inline void append_bounded(std::string& out, std::string_view text) {
  if (out.size() >= kPrefixChars) return;
  out.append(text.substr(0, kPrefixChars - out.size()));
}

// The traits of a body every check accepts; nullopt for any other body (no message: the
// reference reading gives it).
std::optional<RequestTraits> read_traits_fast(std::string_view body, int max_json_depth);

// The traits, or server::ApiError(400) naming what is wrong.
RequestTraits read_traits_reference(std::string_view body, int max_json_depth);

}  // namespace tide::gateway::detail
