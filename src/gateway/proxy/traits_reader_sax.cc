#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <vector>

#include "gateway/proxy/traits_reading.h"
#include "server/api_error.h"

// The reference reading of a request body: nlohmann's parser, as SAX events, keeping only the
// fields routing needs. Its verdicts and messages (with the position of a syntax error) are the
// ones clients get; the fast path (traits_reader_simd.cc) defers to it for every body it does
// not accept.
namespace tide::gateway::detail {
namespace {

enum class Type { Absent, Null, Boolean, Integer, Float, String, Array, Object };

// A JSON value as the checks see it; a string's text is kept only where a check reads it.
struct Value {
  Type type = Type::Absent;
  bool boolean = false;
  int64_t integer = 0;
  std::string* text = nullptr;
};

// A string value's text into `into`; any other value leaves it empty (the last key wins).
void keep_string(std::optional<std::string>& into, const Value& v) {
  if (v.type == Type::String)
    into = std::move(*v.text);
  else
    into.reset();
}

// A top-level scalar field: its type and value (the last occurrence wins, as in a document).
struct Field {
  Type type = Type::Absent;
  bool boolean = false;
  int64_t integer = 0;
  std::string text;

  void set(const Value& v) {
    type = v.type;
    boolean = v.boolean;
    integer = v.integer;
    if (v.text) text = std::move(*v.text);
  }
  bool present() const { return type != Type::Absent && type != Type::Null; }
};

// The text routing reads from `messages` or `prompt`, or the first thing wrong with it.
struct TextField {
  std::string text;
  std::optional<std::pair<const char*, const char*>> error;  // (param, message)

  void reset() {
    text.clear();
    error.reset();
  }
  void fail(const char* param, const char* message) {
    if (!error) error.emplace(param, message);
  }
};

// Reads a body in one pass as nlohmann's SAX events, keeping only the fields routing needs
// instead of building the document: the checks and the prefix text are those of reading the
// document (the last of repeated keys wins; messages' text before the prompt's; errors reported
// in the same field order), for a fraction of the allocations.
class TraitsReader {
 public:
  explicit TraitsReader(int max_depth) : max_depth_(max_depth) {}

  // nlohmann::json_sax
  bool null() { return scalar({.type = Type::Null}); }
  bool boolean(bool b) { return scalar({.type = Type::Boolean, .boolean = b}); }
  bool number_integer(int64_t v) { return scalar({.type = Type::Integer, .integer = v}); }
  // As a document's get<int64_t>() reads it.
  bool number_unsigned(uint64_t v) { return scalar({.type = Type::Integer, .integer = static_cast<int64_t>(v)}); }
  bool number_float(double, const std::string&) { return scalar({.type = Type::Float}); }
  bool string(std::string& s) { return scalar({.type = Type::String, .text = &s}); }
  bool binary(nlohmann::json::binary_t&) { return true; }  // never produced by JSON text
  bool start_object(std::size_t) { return open(Type::Object); }
  bool start_array(std::size_t) { return open(Type::Array); }
  bool key(std::string& k);
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e);

  RequestTraits traits() &&;

 private:
  // What a container is to the reader.
  enum class Role : uint8_t { Root, Ignored, Messages, Message, Content, Part, Prompt };
  // The keys read, by the object they appear in.
  enum class Key : uint8_t {
    Other, Model, Stream, User, MaxTokens, MaxCompletionTokens, Priority, MessagesKey, PromptKey,  // root
    RoleKey, ContentKey,  // a message
    Text,                 // a content part
  };
  // How the rest of a prompt array is read, once its first element has been seen.
  enum class PromptMode : uint8_t { First, TokenIds, Rest };
  struct Frame {
    Role role;
    Key key = Key::Other;
    PromptMode mode = PromptMode::First;
  };

  bool scalar(const Value& v) {
    value(v);
    return true;
  }
  bool open(Type type);
  bool close();
  // A value (a scalar, or a container opening) where the current frame says; returns the role
  // of the container it opens.
  Role value(const Value& v);
  Role root_value(Key key, const Value& v);
  Role prompt_element(Frame& frame, const Value& v);
  void end_message();

  const int max_depth_;
  std::vector<Frame> frames_;
  Type root_ = Type::Absent;
  Field model_, stream_, user_, max_tokens_, max_completion_tokens_, priority_;
  TextField messages_, prompt_;
  // The message being read: its role and content, joined when it ends.
  std::optional<std::string> role_;
  Type content_ = Type::Absent;
  std::string content_text_;
  std::optional<std::string> part_text_;  // the content part being read
};

bool TraitsReader::key(std::string& k) {
  Frame& frame = frames_.back();
  switch (frame.role) {
    case Role::Root:
      frame.key = k == "model"                   ? Key::Model
                  : k == "stream"                ? Key::Stream
                  : k == "user"                  ? Key::User
                  : k == "max_tokens"            ? Key::MaxTokens
                  : k == "max_completion_tokens" ? Key::MaxCompletionTokens
                  : k == "priority"              ? Key::Priority
                  : k == "messages"              ? Key::MessagesKey
                  : k == "prompt"                ? Key::PromptKey
                                                 : Key::Other;
      break;
    case Role::Message: frame.key = k == "role" ? Key::RoleKey : k == "content" ? Key::ContentKey : Key::Other; break;
    case Role::Part: frame.key = k == "text" ? Key::Text : Key::Other; break;
    default: break;
  }
  return true;
}

bool TraitsReader::open(Type type) {
  if (static_cast<int>(frames_.size()) >= max_depth_)
    throw server::ApiError(400, fmt::format("the request JSON is nested deeper than {} levels", max_depth_));
  const Role role = frames_.empty() ? (root_ = type, type == Type::Object ? Role::Root : Role::Ignored)
                                    : value({.type = type});
  frames_.push_back({.role = role});
  return true;
}

bool TraitsReader::close() {
  const Role role = frames_.back().role;
  frames_.pop_back();
  if (role == Role::Message) {
    end_message();
  } else if (role == Role::Part) {
    if (part_text_ && content_text_.size() < kPrefixChars) append_bounded(content_text_, *part_text_);
    part_text_.reset();
  }
  return true;
}

TraitsReader::Role TraitsReader::value(const Value& v) {
  if (frames_.empty()) {  // a scalar document
    root_ = v.type;
    return Role::Ignored;
  }
  Frame& frame = frames_.back();
  switch (frame.role) {
    case Role::Root:
      return root_value(frame.key, v);
    case Role::Messages:
      if (v.type == Type::Object) {
        role_.reset();
        content_ = Type::Absent;
        content_text_.clear();
        return Role::Message;
      }
      messages_.fail("messages", "each message must be an object");
      return Role::Ignored;
    case Role::Message:
      if (frame.key == Key::RoleKey) {
        keep_string(role_, v);
      } else if (frame.key == Key::ContentKey) {
        content_ = v.type;
        content_text_.clear();
        if (v.type == Type::String) append_bounded(content_text_, *v.text);
        if (v.type == Type::Array) return Role::Content;
      }
      return Role::Ignored;
    case Role::Content:
      if (v.type != Type::Object) return Role::Ignored;
      part_text_.reset();
      return Role::Part;
    case Role::Part:
      if (frame.key == Key::Text) {
        keep_string(part_text_, v);
      }
      return Role::Ignored;
    case Role::Prompt:
      return prompt_element(frame, v);
    case Role::Ignored:
      return Role::Ignored;
  }
  return Role::Ignored;
}

TraitsReader::Role TraitsReader::root_value(Key key, const Value& v) {
  switch (key) {
    case Key::Model: model_.set(v); break;
    case Key::Stream: stream_.set(v); break;
    case Key::User: user_.set(v); break;
    case Key::MaxTokens: max_tokens_.set(v); break;
    case Key::MaxCompletionTokens: max_completion_tokens_.set(v); break;
    case Key::Priority: priority_.set(v); break;
    case Key::MessagesKey:
      messages_.reset();
      if (v.type == Type::Array) return Role::Messages;
      messages_.fail("messages", "messages must be an array");
      break;
    case Key::PromptKey:
      prompt_.reset();
      if (v.type == Type::String) append_bounded(prompt_.text, *v.text);
      else if (v.type == Type::Array) return Role::Prompt;
      else prompt_.fail("prompt", "prompt must be a string or an array");
      break;
    default: break;
  }
  return Role::Ignored;
}

// A prompt array's first element says what it is: strings (the first is read), token ids (all
// must be integers), or lists of token ids (the first list is read the same way).
TraitsReader::Role TraitsReader::prompt_element(Frame& frame, const Value& v) {
  switch (frame.mode) {
    case PromptMode::First:
      frame.mode = PromptMode::Rest;
      if (v.type == Type::String) {
        append_bounded(prompt_.text, *v.text);
      } else if (v.type == Type::Integer) {
        frame.mode = PromptMode::TokenIds;
        break;
      } else if (v.type == Type::Array) {
        return Role::Prompt;
      } else {
        prompt_.fail("prompt", "prompt must be a string, strings, token ids or lists of token ids");
      }
      return Role::Ignored;
    case PromptMode::TokenIds:
      if (v.type != Type::Integer) {
        prompt_.fail("prompt", "a token-id prompt holds integers only");
        frame.mode = PromptMode::Rest;
        return Role::Ignored;
      }
      break;
    case PromptMode::Rest:
      return Role::Ignored;
  }
  // A token id, as "id,".
  if (prompt_.text.size() < kPrefixChars) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits - 1, v.integer);
    *end++ = ',';
    append_bounded(prompt_.text, std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  return Role::Ignored;
}

void TraitsReader::end_message() {
  if (messages_.error) return;
  if (role_) {
    append_bounded(messages_.text, *role_);
    append_bounded(messages_.text, ":");
  }
  if (content_ == Type::Absent || content_ == Type::Null) return;
  append_bounded(messages_.text, content_text_);
  append_bounded(messages_.text, "\n");
}

bool TraitsReader::parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
  // 406: a number too large for a double, e.g. 1E473.
  if (e.id == 406) throw server::ApiError(400, "the request body holds a number out of range");
  // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...";
  // the part after the id is what a client can act on.
  std::string what = e.what();
  if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
  throw server::ApiError(400, "the request body is not valid JSON: " + what);
}

RequestTraits TraitsReader::traits() && {
  if (root_ != Type::Object) throw server::ApiError(400, "the request body must be a JSON object");
  RequestTraits traits;
  if (model_.type != Type::Absent) {
    if (model_.type != Type::String) server::invalid_param("model", "model must be a string");
    traits.model = std::move(model_.text);
  }
  if (stream_.present()) {
    if (stream_.type != Type::Boolean) server::invalid_param("stream", "stream must be a boolean");
    traits.stream = stream_.boolean;
  }
  if (user_.present()) {
    if (user_.type != Type::String) server::invalid_param("user", "user must be a string");
    traits.user = std::move(user_.text);
  }
  for (const auto& [field, name] : {std::pair{&max_tokens_, "max_tokens"}, std::pair{&max_completion_tokens_, "max_completion_tokens"}}) {
    if (!field->present()) continue;
    if (field->type != Type::Integer) server::invalid_param(name, "{} must be an integer", name);
    traits.max_tokens = std::max<int64_t>(traits.max_tokens, field->integer);
  }
  if (priority_.present()) {
    if (priority_.type != Type::Integer) server::invalid_param("priority", "priority must be an integer");
    traits.priority = static_cast<int>(std::clamp<int64_t>(priority_.integer, INT32_MIN, INT32_MAX));
  }
  for (const TextField* field : {&messages_, &prompt_})
    if (field->error) server::invalid_param(field->error->first, "{}", field->error->second);
  traits.prefix_text = std::move(messages_.text);
  append_bounded(traits.prefix_text, prompt_.text);
  return traits;
}

}  // namespace

RequestTraits read_traits_reference(std::string_view body, int max_json_depth) {
  TraitsReader reader(max_json_depth);
  // Strict: trailing text after the value is an error, as when reading a document.
  nlohmann::json::sax_parse(body.begin(), body.end(), &reader, nlohmann::json::input_format_t::json, true);
  return std::move(reader).traits();
}

}  // namespace tide::gateway::detail
