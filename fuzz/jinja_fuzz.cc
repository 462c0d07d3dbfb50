// libFuzzer target for the chat-template engine: arbitrary bytes are parsed as a template and
// rendered against a small fixed conversation. A tide::Error is the expected way to reject
// input; a crash, a sanitizer report, a hang or any other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/jinja/template.h"
#include "tokenizer/jinja/value_json.h"

namespace {

const tide::jinja::Dict& conversation() {
  static const tide::jinja::Dict context = tide::jinja::from_json(nlohmann::ordered_json::parse(R"({
    "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "date_string": "1 Jan 2025",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris? \u00e9\u4e2d"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "content": "{\"temp\": 21}"},
      {"role": "assistant", "content": "<think>warm</think>21 degrees."}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
  })")).as_dict();
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Tight limits keep every input fast; the point is that hitting them is an error, not a hang.
  tide::jinja::Limits limits;
  limits.max_output_bytes = size_t{1} << 20;
  limits.max_work = uint64_t{1} << 23;
  limits.max_loop_iterations = 20'000;
  try {
    const auto tmpl = tide::jinja::Template::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    tmpl.render(conversation(), limits);
  } catch (const tide::Error&) {
  }
  return 0;
}
