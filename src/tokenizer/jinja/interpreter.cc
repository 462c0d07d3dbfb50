#include "tokenizer/jinja/interpreter.h"

#include <fmt/format.h>

#include <algorithm>

#include "tokenizer/jinja/access.h"
#include "tokenizer/jinja/globals.h"
#include "tokenizer/jinja/value_error.h"
#include "tokenizer/jinja/value_format.h"

namespace tide::jinja {

Interpreter::Interpreter(const Source& source, const Limits& limits) : source_(source), budget_(limits) {}

std::string Interpreter::render(const Body& body, const Dict& context) {
  frames_.push_back(Frame{{context.entries().begin(), context.entries().end()}, -1});
  std::string output;
  out_ = &output;
  execute(body);
  return output;
}

void Interpreter::enter(uint32_t offset) {
  if (++depth_ > kMaxDepth) {
    source_.fail_at(offset, "template nested too deeply while rendering (more than {} levels): runaway macro recursion?",
                    kMaxDepth);
  }
}

Interpreter::Flow Interpreter::execute(const Body& body) {
  for (const Stmt& stmt : body) {
    const Flow flow = execute(stmt);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

// Value operations fail without knowing where they are; the statement or expression that was
// running adds the location. An error that already has one passes through unchanged.
Interpreter::Flow Interpreter::execute(const Stmt& stmt) {
  enter(stmt.offset);
  try {
    const Flow flow = std::visit([&](const auto& node) { return run(node, stmt); }, stmt.node);
    leave();
    return flow;
  } catch (const ValueError& error) {
    source_.fail_at(stmt.offset, "{}", error.what());
  }
}

Value Interpreter::evaluate(const Expr& expr) {
  enter(expr.offset);
  try {
    Value value = std::visit([&](const auto& node) { return eval(node, expr); }, expr.node);
    leave();
    return value;
  } catch (const ValueError& error) {
    source_.fail_at(expr.offset, "{}", error.what());
  }
}

Interpreter::Flow Interpreter::run(const TextOutput& node, const Stmt&) {
  write(node.text);
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const ExprOutput& node, const Stmt&) {
  const Value value = evaluate(*node.expr);
  write(value.is_string() ? value.as_string() : to_str(value, budget_));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const IfStmt& node, const Stmt&) {
  for (const auto& [condition, body] : node.branches) {
    if (evaluate(*condition).truthy()) return execute(body);
  }
  return execute(node.otherwise);
}

Interpreter::Flow Interpreter::run(const ForStmt& node, const Stmt&) {
  std::vector<Value> items = iterate(evaluate(*node.iterable), budget_);
  if (node.condition) {
    // The loop filter (for x in xs if cond) runs before the loop, so loop.length counts only kept items.
    std::vector<Value> kept;
    for (Value& item : items) {
      budget_.count_loop_iteration();
      push_frame(static_cast<int>(frames_.size()) - 1);
      assign(node.target, item);
      const bool keep = evaluate(*node.condition).truthy();
      pop_frame();
      if (keep) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return execute(node.otherwise);
  ++loop_depth_;
  for (size_t i = 0; i < items.size(); ++i) {
    budget_.count_loop_iteration();
    push_frame(static_cast<int>(frames_.size()) - 1);
    define("loop", make_loop_object(items, i));
    assign(node.target, items[i]);
    const Flow flow = execute(node.body);
    pop_frame();
    if (flow == Flow::Break) break;
  }
  --loop_depth_;
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const SetStmt& node, const Stmt&) {
  assign(node.target, evaluate(*node.value));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const SetBlockStmt& node, const Stmt&) {
  assign(node.target, apply_filters(node.filters, Value::string(capture(node.body))));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const MacroStmt& node, const Stmt&) {
  define(node.name, make_macro(node.name, node.parameters, node.body));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const CallBlockStmt& node, const Stmt&) {
  const Call& call = std::get<Call>(node.call->node);
  const Value callee = evaluate(*call.callee);
  if (callee.is_undefined()) fail_undefined(callee);
  Arguments args = evaluate_arguments(call.arguments);
  args.named.emplace_back("caller", make_macro("caller", node.caller_parameters, node.body));
  write(to_str(callee.as_callable().function(args, budget_), budget_));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const FilterBlockStmt& node, const Stmt&) {
  write(to_str(apply_filters(node.filters, Value::string(capture(node.body))), budget_));
  return Flow::Normal;
}

Interpreter::Flow Interpreter::run(const WithStmt& node, const Stmt&) {
  std::vector<Value> values;
  for (const auto& assignment : node.assignments) values.push_back(evaluate(*assignment.second));
  push_frame(static_cast<int>(frames_.size()) - 1);
  for (size_t i = 0; i < values.size(); ++i) define(node.assignments[i].first, std::move(values[i]));
  const Flow flow = execute(node.body);
  pop_frame();
  return flow;
}

Interpreter::Flow Interpreter::run(const LoopControl& node, const Stmt&) {
  return node.is_break ? Flow::Break : Flow::Continue;
}

Value Interpreter::eval(const Literal& node, const Expr&) { return node.value; }
Value Interpreter::eval(const Name& node, const Expr&) { return lookup(node.name); }

Value Interpreter::eval(const ListLiteral& node, const Expr&) {
  std::vector<Value> items;
  for (const ExprPtr& item : node.items) items.push_back(evaluate(*item));
  budget_.charge(items.size());
  return node.is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

Value Interpreter::eval(const DictLiteral& node, const Expr&) {
  Dict dict;
  for (const auto& [key_expr, value_expr] : node.entries) {
    const Value key = evaluate(*key_expr);
    if (!key.is_string()) value_fail("dict keys must be strings, not {}", key.type_name());
    dict.set(key.as_string(), evaluate(*value_expr));
  }
  budget_.charge(dict.size());
  return Value::dict(std::move(dict));
}

Value Interpreter::eval(const Attribute& node, const Expr&) { return get_attribute(evaluate(*node.object), node.name); }

Value Interpreter::eval(const Subscript& node, const Expr&) {
  const Value object = evaluate(*node.object);
  const Value key = evaluate(*node.key);
  if (object.is_string()) budget_.charge(object.shallow_size());  // indexing walks the code points
  return get_item(object, key);
}

Value Interpreter::eval(const Slice& node, const Expr&) {
  const Value object = evaluate(*node.object);
  const auto part = [&](const ExprPtr& expr) { return expr ? evaluate(*expr) : Value::none(); };
  const Value start = part(node.start), stop = part(node.stop), step = part(node.step);
  return get_slice(object, start, stop, step, budget_);
}

Value Interpreter::eval(const Call& node, const Expr&) {
  const Value callee = evaluate(*node.callee);
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_callable()) value_fail("'{}' object is not callable", callee.type_name());
  const Arguments args = evaluate_arguments(node.arguments);
  return callee.as_callable().function(args, budget_);
}

Value Interpreter::eval(const FilterExpr& node, const Expr&) {
  return apply_filter(node.filter, evaluate(*node.input));
}

Value Interpreter::eval(const TestExpr& node, const Expr&) {
  const Value input = evaluate(*node.input);
  const Arguments args = evaluate_arguments(node.arguments);
  return Value::boolean(node.function(input, args, budget_) != node.negated);
}

Value Interpreter::eval(const Unary& node, const Expr&) {
  const Value operand = evaluate(*node.operand);
  switch (node.op) {
    case Unary::Op::Not: return Value::boolean(!operand.truthy());
    case Unary::Op::Negate: return negate(operand);
    case Unary::Op::Plus: return unary_plus(operand);
  }
  return operand;
}

Value Interpreter::eval(const Binary& node, const Expr&) {
  const Value left = evaluate(*node.left);
  const Value right = evaluate(*node.right);
  return apply_binary(node.op, left, right, budget_);
}

Value Interpreter::eval(const Logical& node, const Expr&) {
  Value left = evaluate(*node.left);
  if (left.truthy() != node.is_and) return left;
  return evaluate(*node.right);
}

Value Interpreter::eval(const Compare& node, const Expr&) {
  Value left = evaluate(*node.first);
  for (const auto& [op, right_expr] : node.rest) {
    Value right = evaluate(*right_expr);
    if (!apply_compare(op, left, right, budget_)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval(const Conditional& node, const Expr&) {
  if (evaluate(*node.condition).truthy()) return evaluate(*node.then_value);
  if (node.else_value) return evaluate(*node.else_value);
  return Value::undefined("the conditional expression has no else branch");
}

Arguments Interpreter::evaluate_arguments(const CallArguments& arguments) {
  Arguments args;
  for (const ExprPtr& expr : arguments.positional) args.positional.push_back(evaluate(*expr));
  for (const auto& [name, expr] : arguments.named) args.named.emplace_back(name, evaluate(*expr));
  return args;
}

Value Interpreter::apply_filter(const FilterCall& filter, const Value& input) {
  const Arguments args = evaluate_arguments(filter.arguments);
  try {
    budget_.charge(input.shallow_size());
    Value output = filter.function(input, args, budget_);
    budget_.charge(output.shallow_size());
    return output;
  } catch (const ValueError& error) {
    source_.fail_at(filter.offset, "filter '{}': {}", filter.name, error.what());
  }
}

Value Interpreter::apply_filters(const std::vector<FilterCall>& filters, Value value) {
  for (const FilterCall& filter : filters) value = apply_filter(filter, value);
  return value;
}

Value Interpreter::make_loop_object(const std::vector<Value>& items, size_t index) {
  const auto length = static_cast<int64_t>(items.size());
  const auto i = static_cast<int64_t>(index);
  Dict loop;
  loop.set("index", Value::integer(i + 1));
  loop.set("index0", Value::integer(i));
  loop.set("revindex", Value::integer(length - i));
  loop.set("revindex0", Value::integer(length - i - 1));
  loop.set("first", Value::boolean(i == 0));
  loop.set("last", Value::boolean(i == length - 1));
  loop.set("length", Value::integer(length));
  loop.set("depth", Value::integer(loop_depth_));
  loop.set("depth0", Value::integer(loop_depth_ - 1));
  if (i > 0) loop.set("previtem", items[index - 1]);
  if (i + 1 < length) loop.set("nextitem", items[index + 1]);
  auto cycle = std::make_shared<Callable>();
  cycle->name = "cycle";
  cycle->function = [index](const Arguments& args, Budget&) {
    if (args.positional.empty()) value_fail("loop.cycle() needs at least one value");
    return args.positional[index % args.positional.size()];
  };
  loop.set("cycle", Value::callable(std::move(cycle)));
  return Value::dict(std::move(loop));
}

// A macro value refers to this interpreter and to the template's syntax tree, so it is only
// valid while this render runs.
Value Interpreter::make_macro(std::string name, const std::vector<Parameter>& parameters, const Body& body) {
  const int visible_frames = static_cast<int>(frames_.size());
  auto callable = std::make_shared<Callable>();
  callable->name = name;
  callable->function = [this, name, &parameters, &body, visible_frames](const Arguments& args, Budget&) {
    return call_macro(name, parameters, body, visible_frames, args);
  };
  return Value::callable(std::move(callable));
}

Value Interpreter::call_macro(const std::string& name, const std::vector<Parameter>& parameters, const Body& body,
                              int visible_frames, const Arguments& args) {
  if (call_depth_ >= budget_.limits().max_call_depth) {
    value_fail("macro calls nested more than {} deep", budget_.limits().max_call_depth);
  }
  if (args.positional.size() > parameters.size()) {
    value_fail("macro '{}' takes {} arguments ({} given)", name, parameters.size(), args.positional.size());
  }
  for (const auto& named : args.named) {
    const bool known = named.first == "caller" || std::any_of(parameters.begin(), parameters.end(),
                                                              [&](const Parameter& p) { return p.name == named.first; });
    if (!known) value_fail("macro '{}' got an unexpected keyword argument '{}'", name, named.first);
  }
  push_frame(std::min(visible_frames, static_cast<int>(frames_.size())) - 1);
  ++call_depth_;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Parameter& parameter = parameters[i];
    const auto named = std::find_if(args.named.begin(), args.named.end(),
                                    [&](const auto& entry) { return entry.first == parameter.name; });
    if (i < args.positional.size()) {
      define(parameter.name, args.positional[i]);
    } else if (named != args.named.end()) {
      define(parameter.name, named->second);
    } else if (parameter.default_value) {
      define(parameter.name, evaluate(*parameter.default_value));
    } else {
      define(parameter.name, Value::undefined(fmt::format("macro '{}' was called without '{}'", name, parameter.name)));
    }
  }
  for (const auto& [key, value] : args.named) {
    if (key == "caller") define(key, value);
  }
  std::string text = capture(body);
  --call_depth_;
  pop_frame();
  return Value::string(std::move(text));
}

Value Interpreter::lookup(const std::string& name) const {
  for (int i = static_cast<int>(frames_.size()) - 1; i >= 0; i = frames_[static_cast<size_t>(i)].parent) {
    for (const auto& [key, value] : frames_[static_cast<size_t>(i)].variables) {
      if (key == name) return value;
    }
  }
  if (const Value* builtin = builtin_globals().find(name)) return *builtin;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

void Interpreter::define(std::string name, Value value) {
  auto& variables = frames_.back().variables;
  for (auto& [key, existing] : variables) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  variables.emplace_back(std::move(name), std::move(value));
}

void Interpreter::assign(const Target& target, const Value& value) {
  if (target.attribute) {
    const Value object = lookup(target.names[0]);
    if (!object.is_namespace()) {
      value_fail("cannot set '{}.{}': '{}' is not a namespace()", target.names[0], *target.attribute, target.names[0]);
    }
    object.as_namespace().set(*target.attribute, value);
    return;
  }
  if (target.names.size() == 1) {
    define(target.names[0], value);
    return;
  }
  const std::vector<Value> parts = iterate(value, budget_);
  if (parts.size() != target.names.size()) {
    value_fail("cannot unpack {} values into {} names", parts.size(), target.names.size());
  }
  for (size_t i = 0; i < parts.size(); ++i) define(target.names[i], parts[i]);
}

void Interpreter::push_frame(int parent) { frames_.push_back(Frame{{}, parent}); }

void Interpreter::write(std::string_view text) {
  budget_.charge(text.size());
  if (out_->size() + text.size() > budget_.limits().max_output_bytes) {
    value_fail("template output exceeds {} bytes", budget_.limits().max_output_bytes);
  }
  out_->append(text);
}

std::string Interpreter::capture(const Body& body) {
  std::string text;
  std::string* outer = std::exchange(out_, &text);
  execute(body);
  out_ = outer;
  return text;
}

}  // namespace tide::jinja
