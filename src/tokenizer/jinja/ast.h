#pragma once
// The parsed form of a template. Every node keeps the byte offset of the token that best
// identifies it, so that a runtime error can name the line and column. Filters and tests are
// resolved while parsing: a template that names an unknown one fails to load, not to render.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tokenizer/jinja/filters.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/predicates.h"
#include "tokenizer/jinja/value.h"

namespace tide::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct CallArguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> named;
};

struct FilterCall {
  uint32_t offset;
  std::string name;
  FilterFunction function;
  CallArguments arguments;
};

struct Literal { Value value; };
struct Name { std::string name; };
struct ListLiteral { std::vector<ExprPtr> items; bool is_tuple; };
struct DictLiteral { std::vector<std::pair<ExprPtr, ExprPtr>> entries; };
struct Attribute { ExprPtr object; std::string name; };  // object.name
struct Subscript { ExprPtr object; ExprPtr key; };       // object[key]
struct Slice { ExprPtr object; ExprPtr start, stop, step; };  // object[start:stop:step], parts optional
struct Call { ExprPtr callee; CallArguments arguments; };
struct FilterExpr { ExprPtr input; FilterCall filter; };
struct TestExpr { ExprPtr input; std::string name; TestFunction function; CallArguments arguments; bool negated; };
struct Unary { enum class Op { Negate, Plus, Not } op; ExprPtr operand; };
struct Binary { BinaryOp op; ExprPtr left, right; };
struct Logical { bool is_and; ExprPtr left, right; };  // Python's and/or: they return an operand
struct Compare { ExprPtr first; std::vector<std::pair<CompareOp, ExprPtr>> rest; };  // a < b < c
struct Conditional { ExprPtr condition, then_value, else_value; };  // else_value may be null

struct Expr {
  uint32_t offset;
  std::variant<Literal, Name, ListLiteral, DictLiteral, Attribute, Subscript, Slice, Call, FilterExpr, TestExpr,
               Unary, Binary, Logical, Compare, Conditional>
      node;
};

struct Stmt;
using Body = std::vector<Stmt>;

// What `set` and `for` assign to: a name, several names to unpack, or `ns.attribute`.
struct Target {
  std::vector<std::string> names;
  std::optional<std::string> attribute;
};

struct Parameter {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct TextOutput { std::string text; };
struct ExprOutput { ExprPtr expr; };
struct IfStmt { std::vector<std::pair<ExprPtr, Body>> branches; Body otherwise; };
struct ForStmt { Target target; ExprPtr iterable; ExprPtr condition; Body body; Body otherwise; };
struct SetStmt { Target target; ExprPtr value; };
struct SetBlockStmt { Target target; std::vector<FilterCall> filters; Body body; };
struct MacroStmt { std::string name; std::vector<Parameter> parameters; Body body; };
struct CallBlockStmt { std::vector<Parameter> caller_parameters; ExprPtr call; Body body; };
struct FilterBlockStmt { std::vector<FilterCall> filters; Body body; };
struct WithStmt { std::vector<std::pair<std::string, ExprPtr>> assignments; Body body; };
struct LoopControl { bool is_break; };

struct Stmt {
  uint32_t offset;
  std::variant<TextOutput, ExprOutput, IfStmt, ForStmt, SetStmt, SetBlockStmt, MacroStmt, CallBlockStmt,
               FilterBlockStmt, WithStmt, LoopControl>
      node;
};

}  // namespace tide::jinja
