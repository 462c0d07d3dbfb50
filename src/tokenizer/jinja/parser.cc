#include "tokenizer/jinja/parser.h"

#include <algorithm>
#include <array>

namespace tide::jinja {
namespace {

// Jinja tags this interpreter deliberately leaves out: they load other templates or only make
// sense for HTML, and no chat template uses them.
constexpr std::array<std::string_view, 11> kUnsupportedTags = {
    "block", "extends", "include", "import", "from", "autoescape", "trans", "pluralize", "do", "print", "endblock"};

bool is_reserved_name(std::string_view name) {
  return name == "true" || name == "false" || name == "none" || name == "True" || name == "False" || name == "None";
}

}  // namespace

Body parse_template(const Source& source, const SyntaxOptions& options) {
  return Parser(source, tokenize(source, options)).parse_template();
}

Parser::Parser(const Source& source, std::vector<Token> tokens) : source_(source), tokens_(std::move(tokens)) {}

Body Parser::parse_template() { return parse_body({}); }

Body Parser::parse_body(std::initializer_list<std::string_view> end_tags) {
  Body body;
  while (true) {
    const Token& token = peek();
    switch (token.kind) {
      case TokenKind::End:
        if (!open_blocks_.empty()) {
          const auto& [tag, offset] = open_blocks_.back();
          fail_at(offset, "unclosed '{}' block: missing '{{% end{} %}}'", tag, tag);
        }
        return body;
      case TokenKind::Data:
        body.push_back(Stmt{token.offset, TextOutput{token.text}});
        next();
        break;
      case TokenKind::VariableBegin: {
        next();
        ExprPtr expr = parse_tuple_expression();
        if (peek().kind != TokenKind::VariableEnd) fail_at(peek().offset, "expected '}}}}' but found {}", describe(peek()));
        next();
        body.push_back(Stmt{token.offset, ExprOutput{std::move(expr)}});
        break;
      }
      case TokenKind::BlockBegin: {
        const Token& tag = peek(1);
        if (tag.kind == TokenKind::Name && std::find(end_tags.begin(), end_tags.end(), tag.text) != end_tags.end()) {
          return body;
        }
        body.push_back(parse_statement());
        break;
      }
      default: fail_at(token.offset, "unexpected {}", describe(token));
    }
  }
}

Stmt Parser::parse_statement() {
  next();  // "{%"
  const Token& tag = peek();
  if (tag.kind != TokenKind::Name) fail_at(tag.offset, "expected a tag name after '{{%' but found {}", describe(tag));
  const uint32_t offset = tag.offset;
  const std::string& name = tag.text;
  if (name == "if") return parse_if(offset);
  if (name == "for") return parse_for(offset);
  if (name == "set") return parse_set(offset);
  if (name == "macro") return parse_macro(offset);
  if (name == "call") return parse_call_block(offset);
  if (name == "filter") return parse_filter_block(offset);
  if (name == "with" || name == "generation") return parse_with(offset);
  if (name == "break" || name == "continue") {
    next();
    if (loop_depth_ == 0) fail_at(offset, "'{}' outside of a loop", name);
    expect_block_end();
    return Stmt{offset, LoopControl{name == "break"}};
  }
  if (std::find(kUnsupportedTags.begin(), kUnsupportedTags.end(), name) != kUnsupportedTags.end()) {
    fail_at(offset, "unsupported tag '{}'", name);
  }
  fail_unexpected_tag(tag);
}

void Parser::fail_unexpected_tag(const Token& tag) {
  const bool closes_a_block = tag.text.starts_with("end") || tag.text == "else" || tag.text == "elif";
  if (!closes_a_block) fail_at(tag.offset, "unknown tag '{}'", tag.text);
  if (open_blocks_.empty()) fail_at(tag.offset, "unexpected '{}': no block is open", tag.text);
  const auto& [open_tag, open_offset] = open_blocks_.back();
  fail_at(tag.offset, "unexpected '{}': the innermost open block is '{}' at {}, which needs 'end{}'", tag.text,
          open_tag, source_.where(open_offset), open_tag);
}

std::string Parser::take_end_tag() {
  next();  // "{%"
  return next().text;
}

Stmt Parser::parse_if(uint32_t offset) {
  next();
  enter(offset);
  open_blocks_.emplace_back("if", offset);
  IfStmt stmt;
  ExprPtr condition = parse_expression(false);
  expect_block_end();
  while (true) {
    stmt.branches.emplace_back(std::move(condition), parse_body({"elif", "else", "endif"}));
    const std::string tag = take_end_tag();
    if (tag == "elif") {
      condition = parse_expression(false);
      expect_block_end();
      continue;
    }
    if (tag == "else") {
      expect_block_end();
      stmt.otherwise = parse_body({"endif"});
      take_end_tag();
    }
    expect_block_end();
    break;
  }
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Stmt Parser::parse_for(uint32_t offset) {
  next();
  enter(offset);
  open_blocks_.emplace_back("for", offset);
  ForStmt stmt;
  stmt.target = parse_target(false);
  if (!skip_name("in")) fail_at(peek().offset, "expected 'in' in 'for' but found {}", describe(peek()));
  stmt.iterable = parse_tuple_expression(false);
  if (skip_name("if")) stmt.condition = parse_expression();
  if (at_name("recursive")) fail_at(peek().offset, "unsupported: recursive loops");
  expect_block_end();
  ++loop_depth_;
  stmt.body = parse_body({"else", "endfor"});
  --loop_depth_;
  if (take_end_tag() == "else") {
    expect_block_end();
    stmt.otherwise = parse_body({"endfor"});
    take_end_tag();
  }
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Stmt Parser::parse_set(uint32_t offset) {
  next();
  Target target = parse_target(true);
  if (skip_operator("=")) {
    ExprPtr value = parse_tuple_expression();
    expect_block_end();
    return Stmt{offset, SetStmt{std::move(target), std::move(value)}};
  }
  // Block form: {% set x %}...{% endset %}, optionally filtered: {% set x | trim %}
  SetBlockStmt stmt{std::move(target), parse_filter_chain(), {}};
  expect_block_end();
  enter(offset);
  open_blocks_.emplace_back("set", offset);
  stmt.body = parse_body({"endset"});
  take_end_tag();
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Stmt Parser::parse_macro(uint32_t offset) {
  next();
  MacroStmt stmt;
  stmt.name = expect_name().text;
  stmt.parameters = parse_parameters();
  expect_block_end();
  enter(offset);
  open_blocks_.emplace_back("macro", offset);
  const int outer_loop_depth = std::exchange(loop_depth_, 0);
  stmt.body = parse_body({"endmacro"});
  loop_depth_ = outer_loop_depth;
  take_end_tag();
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Stmt Parser::parse_call_block(uint32_t offset) {
  next();
  CallBlockStmt stmt;
  if (at_operator("(")) stmt.caller_parameters = parse_parameters();
  stmt.call = parse_expression();
  if (!std::holds_alternative<Call>(stmt.call->node)) fail_at(stmt.call->offset, "expected a macro call after 'call'");
  expect_block_end();
  enter(offset);
  open_blocks_.emplace_back("call", offset);
  const int outer_loop_depth = std::exchange(loop_depth_, 0);
  stmt.body = parse_body({"endcall"});
  loop_depth_ = outer_loop_depth;
  take_end_tag();
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Stmt Parser::parse_filter_block(uint32_t offset) {
  next();
  FilterBlockStmt stmt;
  stmt.filters.push_back(parse_filter_call());
  for (FilterCall& filter : parse_filter_chain()) stmt.filters.push_back(std::move(filter));
  expect_block_end();
  enter(offset);
  open_blocks_.emplace_back("filter", offset);
  stmt.body = parse_body({"endfilter"});
  take_end_tag();
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

// {% with a = 1, b = 2 %} ... {% endwith %}; transformers' {% generation %} block is a scope
// without assignments.
Stmt Parser::parse_with(uint32_t offset) {
  const std::string tag = next().text;
  WithStmt stmt;
  while (tag == "with" && peek().kind != TokenKind::BlockEnd) {
    std::string name = expect_name().text;
    expect_operator("=");
    stmt.assignments.emplace_back(std::move(name), parse_expression());
    if (!skip_operator(",")) break;
  }
  expect_block_end();
  enter(offset);
  open_blocks_.emplace_back(tag, offset);
  const std::string end_tag = "end" + tag;
  stmt.body = parse_body({end_tag});
  take_end_tag();
  expect_block_end();
  open_blocks_.pop_back();
  leave();
  return Stmt{offset, std::move(stmt)};
}

Target Parser::parse_target(bool allow_attribute) {
  Target target;
  const bool parenthesized = skip_operator("(");
  const auto take_name = [&] {
    const Token& name = expect_name();
    if (is_reserved_name(name.text)) fail_at(name.offset, "cannot assign to '{}'", name.text);
    target.names.push_back(name.text);
  };
  take_name();
  if (allow_attribute && !parenthesized && skip_operator(".")) {
    target.attribute = expect_name().text;
    return target;
  }
  while (skip_operator(",")) {
    if (parenthesized && at_operator(")")) break;
    take_name();
  }
  if (parenthesized) expect_operator(")");
  return target;
}

std::vector<Parameter> Parser::parse_parameters() {
  expect_operator("(");
  std::vector<Parameter> parameters;
  while (!skip_operator(")")) {
    if (!parameters.empty()) expect_operator(",");
    if (skip_operator(")")) break;
    Parameter parameter{expect_name().text, nullptr};
    if (skip_operator("=")) parameter.default_value = parse_expression();
    parameters.push_back(std::move(parameter));
  }
  return parameters;
}

std::vector<FilterCall> Parser::parse_filter_chain() {
  std::vector<FilterCall> filters;
  while (skip_operator("|")) filters.push_back(parse_filter_call());
  return filters;
}

const Token& Parser::peek(size_t ahead) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }

const Token& Parser::next() {
  const Token& token = peek();
  if (pos_ + 1 < tokens_.size()) ++pos_;
  return token;
}

bool Parser::at_operator(std::string_view op, size_t ahead) const {
  return peek(ahead).kind == TokenKind::Operator && peek(ahead).text == op;
}

bool Parser::at_name(std::string_view name, size_t ahead) const {
  return peek(ahead).kind == TokenKind::Name && peek(ahead).text == name;
}

bool Parser::skip_operator(std::string_view op) {
  if (!at_operator(op)) return false;
  next();
  return true;
}

bool Parser::skip_name(std::string_view name) {
  if (!at_name(name)) return false;
  next();
  return true;
}

const Token& Parser::expect_operator(std::string_view op) {
  if (!at_operator(op)) fail_at(peek().offset, "expected '{}' but found {}", op, describe(peek()));
  return next();
}

const Token& Parser::expect_name() {
  if (peek().kind != TokenKind::Name) fail_at(peek().offset, "expected a name but found {}", describe(peek()));
  return next();
}

void Parser::expect_block_end() {
  if (peek().kind != TokenKind::BlockEnd) fail_at(peek().offset, "expected '%}}' but found {}", describe(peek()));
  next();
}

std::string Parser::describe(const Token& token) const {
  switch (token.kind) {
    case TokenKind::Data: return "template text";
    case TokenKind::VariableBegin: return "'{{'";
    case TokenKind::VariableEnd: return "'}}'";
    case TokenKind::BlockBegin: return "'{%'";
    case TokenKind::BlockEnd: return "'%}'";
    case TokenKind::Name:
    case TokenKind::Operator: return "'" + token.text + "'";
    case TokenKind::String: return "a string";
    case TokenKind::Integer:
    case TokenKind::Float: return "number " + token.text;
    case TokenKind::End: return "end of template";
  }
  return "?";
}

void Parser::enter(uint32_t offset) {
  if (++nesting_ > kMaxNesting) fail_at(offset, "template nested too deeply (more than {} levels)", kMaxNesting);
}

}  // namespace tide::jinja
