#pragma once
// The generated text of an OpenAI-style answer, JSON or a Server-Sent Events stream: what a
// mirrored copy's answer is compared by. Choices are joined in order; reasoning_content counts.
// Never throws: an answer it cannot read yields what it could read.
#include <string>
#include <string_view>

namespace tide::gateway {

std::string generated_text(std::string_view body);

}  // namespace tide::gateway
