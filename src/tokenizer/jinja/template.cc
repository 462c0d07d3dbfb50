#include "tokenizer/jinja/template.h"

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/parser.h"

namespace tide::jinja {

Template Template::parse(std::string_view source, std::string name, const SyntaxOptions& options) {
  if (source.size() > kMaxSourceBytes) {
    fail("{}: template of {} bytes exceeds the {} byte limit", name, source.size(), kMaxSourceBytes);
  }
  auto parsed = std::make_shared<Parsed>();
  parsed->source = Source{std::move(name), normalize_newlines(source)};
  parsed->body = parse_template(parsed->source, options);
  return Template(std::move(parsed));
}

std::string Template::render(const Dict& context, const Limits& limits) const {
  return Interpreter(parsed_->source, limits).render(parsed_->body, context);
}

}  // namespace tide::jinja
