// The fast reading of a request body: simdjson validates the whole text (structure, UTF-8,
// escapes, numbers, nesting) and builds its document in one pass, several times faster than a
// scalar parser; the walk below then reads the fields routing needs, exactly as the reference
// reading does. It never refuses a body itself: anything it would refuse, or cannot read the
// way the reference does, goes to the reference reading.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <optional>

#include "gateway/proxy/traits_reading.h"

namespace tide::gateway::detail {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Each io thread keeps one parser, sized by the largest body it has read up to this: reading a
// body then allocates nothing. simdjson's document takes about 14 bytes per byte of text, so
// larger bodies (long-context prompts) are left to the reference reading, whose memory is the
// fields it keeps: a client's big bodies cannot make the gateway hold ten times their size.
constexpr std::size_t kFastReadingMaxBytes = 256 << 10;

bool is_integer(const element& e) {
  const auto type = e.type();
  return type == element_type::INT64 || type == element_type::UINT64;
}

// As the reference reads integers: an unsigned one beyond int64 is taken modulo 2^64.
int64_t integer_of(const element& e) {
  if (e.type() == element_type::UINT64) return static_cast<int64_t>(uint64_t(e));
  return int64_t(e);
}

// A prompt array's first element says what it is: strings (the first is read), token ids (all
// must be integers), or lists of token ids (the first list is read the same way).
bool append_prompt_array(std::string& out, const array& prompt) {
  auto it = prompt.begin();
  if (it == prompt.end()) return true;
  const element first = *it;
  switch (first.type()) {
    case element_type::STRING:
      append_bounded(out, std::string_view(first));
      return true;
    case element_type::ARRAY:
      return append_prompt_array(out, array(first));
    case element_type::INT64:
    case element_type::UINT64:
      for (const element id : prompt) {
        if (!is_integer(id)) return false;
        if (out.size() >= kPrefixChars) continue;  // the rest is only checked
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits - 1, integer_of(id));
        *end++ = ',';
        append_bounded(out, std::string_view(digits, static_cast<std::size_t>(end - digits)));
      }
      return true;
    default:
      return false;
  }
}

// Each message as "role:content\n" (a role only when it is a string; content parts' `text`
// strings joined), the last of repeated keys winning.
bool append_messages(std::string& out, const array& messages) {
  std::string content_text;
  for (const element message : messages) {
    if (message.type() != element_type::OBJECT) return false;
    std::optional<element> role, content;
    for (const auto field : object(message)) {
      if (field.key == "role")
        role = field.value;
      else if (field.key == "content")
        content = field.value;
    }
    if (role && role->type() == element_type::STRING) {
      append_bounded(out, std::string_view(*role));
      append_bounded(out, ":");
    }
    if (!content || content->type() == element_type::NULL_VALUE) continue;
    content_text.clear();
    if (content->type() == element_type::STRING) {
      append_bounded(content_text, std::string_view(*content));
    } else if (content->type() == element_type::ARRAY) {
      for (const element part : array(*content)) {
        if (part.type() != element_type::OBJECT) continue;
        std::optional<element> text;
        for (const auto field : object(part))
          if (field.key == "text") text = field.value;
        if (text && text->type() == element_type::STRING) append_bounded(content_text, std::string_view(*text));
      }
    }
    append_bounded(out, content_text);
    append_bounded(out, "\n");
  }
  return true;
}

std::optional<RequestTraits> read_root(const object& root) {
  std::optional<element> model, stream, user, max_tokens, max_completion_tokens, priority, messages, prompt;
  for (const auto field : root) {
    const std::string_view key = field.key;
    if (key == "model") model = field.value;
    else if (key == "stream") stream = field.value;
    else if (key == "user") user = field.value;
    else if (key == "max_tokens") max_tokens = field.value;
    else if (key == "max_completion_tokens") max_completion_tokens = field.value;
    else if (key == "priority") priority = field.value;
    else if (key == "messages") messages = field.value;
    else if (key == "prompt") prompt = field.value;
  }
  // Absent and null read alike, except for the model, the messages and the prompt.
  auto present = [](const std::optional<element>& e) { return e && e->type() != element_type::NULL_VALUE; };

  RequestTraits traits;
  if (model) {
    if (model->type() != element_type::STRING) return std::nullopt;
    traits.model = std::string_view(*model);
  }
  if (present(stream)) {
    if (stream->type() != element_type::BOOL) return std::nullopt;
    traits.stream = bool(*stream);
  }
  if (present(user)) {
    if (user->type() != element_type::STRING) return std::nullopt;
    traits.user = std::string_view(*user);
  }
  for (const auto* limit : {&max_tokens, &max_completion_tokens}) {
    if (!present(*limit)) continue;
    if (!is_integer(**limit)) return std::nullopt;
    traits.max_tokens = std::max<int64_t>(traits.max_tokens, integer_of(**limit));
  }
  if (present(priority)) {
    if (!is_integer(*priority)) return std::nullopt;
    traits.priority = static_cast<int>(std::clamp<int64_t>(integer_of(*priority), INT32_MIN, INT32_MAX));
  }
  if (messages) {
    if (messages->type() != element_type::ARRAY || !append_messages(traits.prefix_text, array(*messages)))
      return std::nullopt;
  }
  if (prompt) {
    std::string text;
    if (prompt->type() == element_type::STRING)
      append_bounded(text, std::string_view(*prompt));
    else if (prompt->type() != element_type::ARRAY || !append_prompt_array(text, array(*prompt)))
      return std::nullopt;
    append_bounded(traits.prefix_text, text);
  }
  return traits;
}

}  // namespace

std::optional<RequestTraits> read_traits_fast(std::string_view body, int max_json_depth) {
  if (max_json_depth < 1) return std::nullopt;
  // simdjson's limit counts a level more than the reference's for a container that holds a
  // value, so a body nested exactly to the limit may be left to the reference; none past it is
  // ever taken here.
  if (body.size() > kFastReadingMaxBytes) return std::nullopt;
  const auto depth = static_cast<std::size_t>(max_json_depth);
  thread_local simdjson::dom::parser parser;
  if (parser.max_depth() != depth) {  // the first body, or a new limit (a configuration reload)
    if (parser.allocate(std::max(body.size(), std::size_t{4096}), depth) != simdjson::SUCCESS) return std::nullopt;
  }
  object root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return std::nullopt;
  return read_root(root);
}

}  // namespace tide::gateway::detail
