#pragma once
// A Jinja-subset template engine, sized for the chat templates that ship in
// tokenizer_config.json. It is written here because no maintained C++ Jinja library is packaged
// in Debian. It follows Jinja 3 as transformers configures it (trim_blocks, lstrip_blocks, the
// loopcontrols extension, its own tojson, raise_exception and strftime_now), because the exact
// bytes of a prompt depend on those details. What it does not support is an error naming the
// line and column ("unsupported tag 'include'", "unknown filter 'xyz'"), never a silently
// different prompt. Templates are untrusted input: nesting, loops, output and work are bounded.
//
//   auto tmpl = tide::jinja::Template::parse(source, "chat_template");
//   std::string text = tmpl.render(context);
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/budget.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/source.h"
#include "tokenizer/jinja/value.h"

namespace tide::jinja {

class Template {
 public:
  static constexpr size_t kMaxSourceBytes = size_t{4} << 20;

  // Throws tide::Error "name:line:column: message" when the source does not parse.
  static Template parse(std::string_view source, std::string name, const SyntaxOptions& options = {});

  // Throws tide::Error naming the line and column on runtime errors (undefined used as a value,
  // type errors, raise_exception(), exceeded limits). Safe to call from several threads at once.
  std::string render(const Dict& context, const Limits& limits = {}) const;

  const std::string& name() const { return parsed_->source.name; }

 private:
  struct Parsed {
    Source source;
    Body body;
  };
  explicit Template(std::shared_ptr<const Parsed> parsed) : parsed_(std::move(parsed)) {}

  std::shared_ptr<const Parsed> parsed_;
};

}  // namespace tide::jinja
