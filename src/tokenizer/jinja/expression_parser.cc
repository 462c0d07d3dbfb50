// Expression half of the Parser: one function per precedence level of Jinja's grammar, from
// the loosest (a if b else c) to the tightest (postfix ., [], () and then | filters, is tests).
#include <algorithm>

#include "tokenizer/jinja/parser.h"

namespace tide::jinja {
namespace {

template <typename Node>
ExprPtr make(uint32_t offset, Node node) {
  return std::make_unique<Expr>(Expr{offset, std::move(node)});
}

ExprPtr literal(uint32_t offset, Value value) { return make(offset, Literal{std::move(value)}); }

}  // namespace

// A comma-separated list without brackets is a tuple: {{ a, b }}, {% set a, b = 1, 2 %}.
ExprPtr Parser::parse_tuple_expression(bool with_conditional) {
  const uint32_t offset = peek().offset;
  ExprPtr first = parse_expression(with_conditional);
  if (!at_operator(",")) return first;
  std::vector<ExprPtr> items;
  items.push_back(std::move(first));
  while (skip_operator(",")) {
    if (peek().kind == TokenKind::VariableEnd || peek().kind == TokenKind::BlockEnd) break;
    items.push_back(parse_expression(with_conditional));
  }
  return make(offset, ListLiteral{std::move(items), true});
}

ExprPtr Parser::parse_expression(bool with_conditional) {
  enter(peek().offset);
  ExprPtr expr = with_conditional ? parse_conditional() : parse_or();
  leave();
  return expr;
}

ExprPtr Parser::parse_conditional() {
  ExprPtr expr = parse_or();
  int levels = 0;
  while (at_name("if")) {
    const uint32_t offset = next().offset;
    enter(offset);
    ++levels;
    ExprPtr condition = parse_or();
    ExprPtr otherwise = skip_name("else") ? parse_conditional() : nullptr;
    expr = make(offset, Conditional{std::move(condition), std::move(expr), std::move(otherwise)});
  }
  leave(levels);
  return expr;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  int levels = 0;
  while (at_name("or")) {
    const uint32_t offset = next().offset;
    enter(offset);
    ++levels;
    ExprPtr right = parse_and();
    left = make(offset, Logical{false, std::move(left), std::move(right)});
  }
  leave(levels);
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  int levels = 0;
  while (at_name("and")) {
    const uint32_t offset = next().offset;
    enter(offset);
    ++levels;
    ExprPtr right = parse_not();
    left = make(offset, Logical{true, std::move(left), std::move(right)});
  }
  leave(levels);
  return left;
}

ExprPtr Parser::parse_not() {
  if (!at_name("not")) return parse_compare();
  const uint32_t offset = next().offset;
  enter(offset);
  ExprPtr operand = parse_not();
  leave();
  return make(offset, Unary{Unary::Op::Not, std::move(operand)});
}

ExprPtr Parser::parse_compare() {
  ExprPtr first = parse_additive();
  static constexpr std::pair<std::string_view, CompareOp> kOperators[] = {
      {"==", CompareOp::Equal}, {"!=", CompareOp::NotEqual}, {"<", CompareOp::Less},
      {"<=", CompareOp::LessEqual}, {">", CompareOp::Greater}, {">=", CompareOp::GreaterEqual}};
  Compare compare{std::move(first), {}};
  uint32_t offset = 0;
  int levels = 0;
  while (true) {
    CompareOp op;
    const auto it = std::find_if(std::begin(kOperators), std::end(kOperators),
                                 [&](const auto& entry) { return at_operator(entry.first); });
    if (it != std::end(kOperators)) {
      op = it->second;
    } else if (at_name("in")) {
      op = CompareOp::In;
    } else if (at_name("not") && at_name("in", 1)) {
      next();
      op = CompareOp::NotIn;
    } else {
      break;
    }
    const uint32_t op_offset = next().offset;
    if (compare.rest.empty()) offset = op_offset;
    enter(op_offset);
    ++levels;
    compare.rest.emplace_back(op, parse_additive());
  }
  leave(levels);
  if (compare.rest.empty()) return std::move(compare.first);
  return make(offset, std::move(compare));
}

ExprPtr Parser::parse_binary(ExprPtr (Parser::*operand)(),
                             std::initializer_list<std::pair<std::string_view, BinaryOp>> operators) {
  ExprPtr left = (this->*operand)();
  int levels = 0;
  while (true) {
    const auto it = std::find_if(operators.begin(), operators.end(), [&](const auto& entry) { return at_operator(entry.first); });
    if (it == operators.end()) break;
    const uint32_t offset = next().offset;
    enter(offset);
    ++levels;
    ExprPtr right = (this->*operand)();
    left = make(offset, Binary{it->second, std::move(left), std::move(right)});
  }
  leave(levels);
  return left;
}

ExprPtr Parser::parse_additive() {
  return parse_binary(&Parser::parse_concat, {{"+", BinaryOp::Add}, {"-", BinaryOp::Subtract}});
}

ExprPtr Parser::parse_concat() { return parse_binary(&Parser::parse_multiplicative, {{"~", BinaryOp::Concat}}); }

ExprPtr Parser::parse_multiplicative() {
  return parse_binary(&Parser::parse_power, {{"*", BinaryOp::Multiply},
                                             {"//", BinaryOp::FloorDivide},
                                             {"/", BinaryOp::Divide},
                                             {"%", BinaryOp::Modulo}});
}

// Jinja applies ** left to right and binds unary minus tighter: -2 ** 2 is 4.
ExprPtr Parser::parse_power() { return parse_binary(&Parser::parse_unary_with_filters, {{"**", BinaryOp::Power}}); }

ExprPtr Parser::parse_unary(bool with_filters) {
  const Token& token = peek();
  ExprPtr node;
  if (at_operator("-") || at_operator("+")) {
    const bool minus = token.text == "-";
    next();
    enter(token.offset);
    ExprPtr operand = parse_unary(false);
    leave();
    node = make(token.offset, Unary{minus ? Unary::Op::Negate : Unary::Op::Plus, std::move(operand)});
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  return with_filters ? parse_filters_and_tests(std::move(node)) : std::move(node);
}

ExprPtr Parser::parse_primary() {
  const Token& token = next();
  const uint32_t offset = token.offset;
  switch (token.kind) {
    case TokenKind::Name:
      if (token.text == "true" || token.text == "True") return literal(offset, Value::boolean(true));
      if (token.text == "false" || token.text == "False") return literal(offset, Value::boolean(false));
      if (token.text == "none" || token.text == "None") return literal(offset, Value::none());
      return make(offset, Name{token.text});
    case TokenKind::String: {
      std::string text = token.text;  // adjacent literals concatenate: 'a' 'b' is 'ab'
      while (peek().kind == TokenKind::String) text += next().text;
      return literal(offset, Value::string(std::move(text)));
    }
    case TokenKind::Integer: return literal(offset, Value::integer(token.integer));
    case TokenKind::Float: return literal(offset, Value::floating(token.floating));
    case TokenKind::Operator:
      if (token.text == "(") return parse_parenthesized(offset);
      if (token.text == "[") return parse_list(offset);
      if (token.text == "{") return parse_dict(offset);
      break;
    default: break;
  }
  fail_at(offset, "unexpected {} in expression", describe(token));
}

ExprPtr Parser::parse_parenthesized(uint32_t offset) {
  enter(offset);
  std::vector<ExprPtr> items;
  if (skip_operator(")")) {
    leave();
    return make(offset, ListLiteral{std::move(items), true});
  }
  ExprPtr first = parse_expression();
  if (skip_operator(")")) {
    leave();
    return first;
  }
  items.push_back(std::move(first));
  while (skip_operator(",")) {
    if (at_operator(")")) break;
    items.push_back(parse_expression());
  }
  expect_operator(")");
  leave();
  return make(offset, ListLiteral{std::move(items), true});
}

ExprPtr Parser::parse_list(uint32_t offset) {
  enter(offset);
  std::vector<ExprPtr> items;
  while (!skip_operator("]")) {
    if (!items.empty()) expect_operator(",");
    if (skip_operator("]")) break;
    items.push_back(parse_expression());
  }
  leave();
  return make(offset, ListLiteral{std::move(items), false});
}

ExprPtr Parser::parse_dict(uint32_t offset) {
  enter(offset);
  std::vector<std::pair<ExprPtr, ExprPtr>> entries;
  while (!skip_operator("}")) {
    if (!entries.empty()) expect_operator(",");
    if (skip_operator("}")) break;
    ExprPtr key = parse_expression();
    expect_operator(":");
    entries.emplace_back(std::move(key), parse_expression());
  }
  leave();
  return make(offset, DictLiteral{std::move(entries)});
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  int levels = 0;
  while (true) {
    const Token& token = peek();
    if (at_operator(".")) {
      next();
      const Token& attribute = next();
      enter(token.offset);
      ++levels;
      if (attribute.kind == TokenKind::Name) {
        node = make(attribute.offset, Attribute{std::move(node), attribute.text});
      } else if (attribute.kind == TokenKind::Integer) {  // items.0 is items[0]
        node = make(attribute.offset, Subscript{std::move(node), literal(attribute.offset, Value::integer(attribute.integer))});
      } else {
        fail_at(attribute.offset, "expected an attribute name after '.' but found {}", describe(attribute));
      }
    } else if (at_operator("[")) {
      next();
      enter(token.offset);
      ++levels;
      node = parse_subscript(std::move(node), token.offset);
    } else if (at_operator("(")) {
      next();
      enter(token.offset);
      ++levels;
      const uint32_t offset = node->offset;
      node = make(offset, Call{std::move(node), parse_call_arguments()});
    } else {
      break;
    }
  }
  leave(levels);
  return node;
}

ExprPtr Parser::parse_subscript(ExprPtr object, uint32_t offset) {
  ExprPtr start, stop, step;
  if (!at_operator(":")) start = parse_expression();
  if (!skip_operator(":")) {
    expect_operator("]");
    return make(offset, Subscript{std::move(object), std::move(start)});
  }
  if (!at_operator("]") && !at_operator(":")) stop = parse_expression();
  if (skip_operator(":") && !at_operator("]")) step = parse_expression();
  expect_operator("]");
  return make(offset, Slice{std::move(object), std::move(start), std::move(stop), std::move(step)});
}

ExprPtr Parser::parse_filters_and_tests(ExprPtr node) {
  int levels = 0;
  while (true) {
    const Token& token = peek();
    if (at_operator("|")) {
      next();
      enter(token.offset);
      ++levels;
      FilterCall filter = parse_filter_call();
      const uint32_t offset = filter.offset;
      node = make(offset, FilterExpr{std::move(node), std::move(filter)});
    } else if (at_name("is")) {
      next();
      enter(token.offset);
      ++levels;
      node = parse_test(std::move(node), token.offset);
    } else if (at_operator("(")) {
      next();
      enter(token.offset);
      ++levels;
      const uint32_t offset = node->offset;
      node = make(offset, Call{std::move(node), parse_call_arguments()});
    } else {
      break;
    }
  }
  leave(levels);
  return node;
}

ExprPtr Parser::parse_test(ExprPtr input, uint32_t offset) {
  const bool negated = skip_name("not");
  const uint32_t name_offset = peek().offset;
  std::string name = parse_dotted_name();
  const TestFunction function = find_test(name);
  if (function == nullptr) fail_at(name_offset, "unknown test '{}'", name);
  CallArguments arguments;
  const Token& next_token = peek();
  // As in Jinja, a test takes one argument without parentheses: `x is divisibleby 3`.
  const bool bare_argument =
      (next_token.kind == TokenKind::Name && !at_name("else") && !at_name("or") && !at_name("and")) ||
      next_token.kind == TokenKind::String || next_token.kind == TokenKind::Integer ||
      next_token.kind == TokenKind::Float || at_operator("[") || at_operator("{");
  if (skip_operator("(")) {
    arguments = parse_call_arguments();
  } else if (bare_argument) {
    if (at_name("is")) fail_at(next_token.offset, "tests cannot be chained with 'is'");
    arguments.positional.push_back(parse_postfix(parse_primary()));
  }
  return make(offset, TestExpr{std::move(input), std::move(name), function, std::move(arguments), negated});
}

FilterCall Parser::parse_filter_call() {
  const uint32_t offset = peek().offset;
  std::string name = parse_dotted_name();
  const FilterFunction function = find_filter(name);
  if (function == nullptr) fail_at(offset, "unknown filter '{}'", name);
  CallArguments arguments;
  if (skip_operator("(")) arguments = parse_call_arguments();
  return FilterCall{offset, std::move(name), function, std::move(arguments)};
}

// Called after "(": positional arguments, then name=value arguments, then ")".
CallArguments Parser::parse_call_arguments() {
  CallArguments arguments;
  if (skip_operator(")")) return arguments;
  while (true) {
    if (at_operator("*") || at_operator("**")) fail_at(peek().offset, "unsupported: argument unpacking with * or **");
    if (peek().kind == TokenKind::Name && at_operator("=", 1)) {
      std::string name = next().text;
      next();
      arguments.named.emplace_back(std::move(name), parse_expression());
    } else {
      if (!arguments.named.empty()) fail_at(peek().offset, "positional argument follows keyword argument");
      arguments.positional.push_back(parse_expression());
    }
    if (skip_operator(")")) break;
    expect_operator(",");
    if (skip_operator(")")) break;
  }
  return arguments;
}

std::string Parser::parse_dotted_name() {
  std::string name = expect_name().text;
  while (at_operator(".") && peek(1).kind == TokenKind::Name) {
    next();
    name += "." + next().text;
  }
  return name;
}

}  // namespace tide::jinja
