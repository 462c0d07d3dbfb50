#pragma once
// Recursive-descent parser from tokens to the AST, following Jinja's grammar and operator
// precedence (filters bind tighter than arithmetic: a + b | trim is a + (b | trim)). Nesting is
// capped so that "((((..." or a thousand nested {% if %} fail with an error instead of
// overflowing the stack, here or later in the interpreter.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/source.h"

namespace tide::jinja {

Body parse_template(const Source& source, const SyntaxOptions& options);

class Parser {
 public:
  static constexpr int kMaxNesting = 100;

  Parser(const Source& source, std::vector<Token> tokens);
  Body parse_template();

 private:
  // Statements (parser.cc).
  Body parse_body(std::initializer_list<std::string_view> end_tags);
  Stmt parse_statement();
  Stmt parse_if(uint32_t offset);
  Stmt parse_for(uint32_t offset);
  Stmt parse_set(uint32_t offset);
  Stmt parse_macro(uint32_t offset);
  Stmt parse_call_block(uint32_t offset);
  Stmt parse_filter_block(uint32_t offset);
  Stmt parse_with(uint32_t offset);
  Target parse_target(bool allow_attribute);
  std::vector<Parameter> parse_parameters();
  std::vector<FilterCall> parse_filter_chain();
  // Consumes "{% <tag>" where tag is one of the end tags parse_body stopped at.
  std::string take_end_tag();
  [[noreturn]] void fail_unexpected_tag(const Token& tag);

  // Expressions (expression_parser.cc).
  ExprPtr parse_tuple_expression(bool with_conditional = true);
  ExprPtr parse_expression(bool with_conditional = true);
  ExprPtr parse_conditional();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_additive();
  ExprPtr parse_concat();
  ExprPtr parse_multiplicative();
  ExprPtr parse_power();
  ExprPtr parse_binary(ExprPtr (Parser::*operand)(), std::initializer_list<std::pair<std::string_view, BinaryOp>> operators);
  ExprPtr parse_unary_with_filters() { return parse_unary(true); }
  ExprPtr parse_unary(bool with_filters);
  ExprPtr parse_primary();
  ExprPtr parse_parenthesized(uint32_t offset);
  ExprPtr parse_list(uint32_t offset);
  ExprPtr parse_dict(uint32_t offset);
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr object, uint32_t offset);
  ExprPtr parse_filters_and_tests(ExprPtr node);
  ExprPtr parse_test(ExprPtr input, uint32_t offset);
  FilterCall parse_filter_call();
  CallArguments parse_call_arguments();
  std::string parse_dotted_name();

  // Tokens.
  const Token& peek(size_t ahead = 0) const;
  const Token& next();
  bool at_operator(std::string_view op, size_t ahead = 0) const;
  bool at_name(std::string_view name, size_t ahead = 0) const;
  bool skip_operator(std::string_view op);
  bool skip_name(std::string_view name);
  const Token& expect_operator(std::string_view op);
  const Token& expect_name();
  void expect_block_end();
  std::string describe(const Token& token) const;
  template <typename... Args>
  [[noreturn]] void fail_at(uint32_t offset, fmt::format_string<Args...> format, Args&&... args) const {
    source_.fail_at(offset, format, std::forward<Args>(args)...);
  }
  // Every recursive descent and every link of an operator chain adds one level; leave() gives
  // them back. After a failure the parser is discarded, so levels need no unwinding.
  void enter(uint32_t offset);
  void leave(int levels = 1) { nesting_ -= levels; }

  const Source& source_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;  // for break/continue; a macro body starts again at zero
  std::vector<std::pair<std::string, uint32_t>> open_blocks_;  // for "unclosed"/"unexpected" errors
};

}  // namespace tide::jinja
